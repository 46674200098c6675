from django.urls import path

from mobileca.physical import views

app_name = "physical"
urlpatterns = [
    path("apply/", views.apply, name="apply"),
    path("shipments/<int:shipment_id>/cancel/", views.cancel, name="cancel"),
]
