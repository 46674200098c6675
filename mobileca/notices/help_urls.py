"""「常见问题」 and 「在线留言」 (at /help/): the platform guide's FAQ (§(四)) and the customer-service contact."""

from django.contrib.auth.decorators import login_required
from django.urls import path
from django.views.generic import TemplateView

from mobileca.notices.views import contact

app_name = "help"
urlpatterns = [
    path(
        "faq/",
        login_required(TemplateView.as_view(template_name="notices/faq.html", extra_context={"active": "faq"})),
        name="faq",
    ),
    path("contact/", contact, name="contact"),
]
