from django.urls import path

from mobileca.shield import views

app_name = "shield"
urlpatterns = [
    path("claim/<str:ticket>/", views.h5_claim, name="h5_claim"),
    path("claim/<str:ticket>/login/", views.h5_login, name="h5_login"),
    path("auth/callback/", views.h5_callback, name="h5_callback"),
]
