from django.urls import path

from mobileca.payments import views

app_name = "payments"
urlpatterns = [
    path("orders/<str:order_no>/pay/", views.order_pay, name="order_pay"),
    path("orders/<str:order_no>/voucher/", views.voucher_upload, name="voucher_upload"),
    path("orders/<str:order_no>/voucher/<int:voucher_id>/", views.voucher_download, name="voucher_download"),
]
