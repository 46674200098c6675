"""The reviewer's pages, mounted under /backoffice/physical/."""

from django.urls import path

from mobileca.backoffice import reviewer

app_name = "physical_review"
urlpatterns = [
    path("", reviewer.review_list, name="review_list"),
    path("<int:application_id>/", reviewer.review_decide, name="review_decide"),
    path("<int:application_id>/licence/", reviewer.review_licence, name="review_licence"),
    path("shipments/<int:shipment_id>/dispatch/", reviewer.dispatch, name="dispatch"),
]
