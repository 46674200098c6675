from django.urls import path

from mobileca.sandboxes.identity import views

app_name = "sandbox_identity"
urlpatterns = [
    path("authorize", views.authorize, name="authorize"),
    path("token", views.token, name="token"),
]
