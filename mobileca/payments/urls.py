from django.urls import path

from mobileca.payments import views

app_name = "payments"
urlpatterns = [
    path("orders/<str:order_no>/pay/", views.order_pay, name="order_pay"),
    path("orders/<str:order_no>/status/", views.order_status, name="order_status"),
    path("orders/<str:order_no>/done/", views.order_done, name="order_done"),
    path("orders/<str:order_no>/pay/quit/", views.pay_quit, name="pay_quit"),
    path("orders/<str:order_no>/cancel/", views.order_cancel, name="order_cancel"),
    path("payments/alipay/return/", views.alipay_return, name="alipay_return"),
    path("orders/<str:order_no>/alipay-page/", views.alipay_page_pay, name="alipay_page_pay"),
    path("orders/<str:order_no>/voucher/", views.voucher_upload, name="voucher_upload"),
    path("orders/<str:order_no>/voucher/<int:voucher_id>/", views.voucher_download, name="voucher_download"),
]
