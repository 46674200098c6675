from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="accounts:workbench", permanent=False)),
    path("accounts/", include("mobileca.accounts.urls")),
    path("ca/", include("mobileca.orders.urls")),
    path("ca/", include("mobileca.payments.urls")),
    path("ca/", include("mobileca.cards.urls")),
    path("backoffice/", include("mobileca.backoffice.urls")),
    path("django-admin/", admin.site.urls),
]
