from django.urls import path

from mobileca.cards import views

app_name = "cards"
urlpatterns = [
    path("cards/", views.card_list, name="list"),
    path("cards/<str:cert_id>/orders/", views.card_orders, name="orders"),
    path("cards/<str:cert_id>/claim/", views.card_claim, name="claim"),
    path("cards/<str:cert_id>/claim/status/", views.card_claim_status, name="claim_status"),
]
