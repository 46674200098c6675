from django.urls import path

from mobileca.sandboxes.sms import views

app_name = "sandbox_sms"
urlpatterns = [
    path("v1/messages", views.send, name="send"),
    path("inbox/<str:phone>/", views.inbox, name="inbox"),
]
