from django.urls import path

from mobileca.sandboxes.registry import views

app_name = "sandbox_registry"
urlpatterns = [path("v1/enterprises/<str:uscc>", views.enterprise, name="enterprise")]
