from django.urls import path

from mobileca.sandboxes.liveness import views

app_name = "sandbox_liveness"
urlpatterns = [
    path("v1/checks", views.open_check, name="open"),
    path("v1/checks/<str:check_id>", views.result, name="result"),
    path("check/<str:check_id>/", views.check_page, name="page"),
]
