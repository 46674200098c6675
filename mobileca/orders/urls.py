from django.urls import path

from mobileca.orders import views
from mobileca.payments import views as payment_views

app_name = "orders"
urlpatterns = [
    path("", views.ca_home, name="home"),
    path("purchase/", views.purchase, name="purchase"),
    path("purchase/<slug:product_code>/", payment_views.checkout_page, name="checkout"),
]
