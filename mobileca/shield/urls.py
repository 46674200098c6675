from django.urls import path

from mobileca.shield import views

app_name = "shield"
urlpatterns = [
    path("claim/<str:ticket>/", views.h5_claim, name="h5_claim"),
]
