"""The reviewer's pages, mounted under /backoffice/physical/."""

from django.urls import path

from mobileca.physical import views

app_name = "physical_review"
urlpatterns = [
    path("", views.review_list, name="review_list"),
    path("<int:application_id>/", views.review_decide, name="review_decide"),
    path("<int:application_id>/licence/", views.review_licence, name="review_licence"),
    path("shipments/<int:shipment_id>/dispatch/", views.dispatch, name="dispatch"),
]
