from django.urls import path

from mobileca.sandboxes.wechatpay import views

app_name = "sandbox_wechatpay"
urlpatterns = [
    path("v3/pay/transactions/native", views.native, name="native"),
    path("v3/pay/transactions/out-trade-no/<str:out_trade_no>", views.by_out_trade_no, name="query"),
    path("v3/pay/transactions/out-trade-no/<str:out_trade_no>/close", views.close, name="close"),
    path("v3/refund/domestic/refunds", views.refunds, name="refunds"),
    path("cashier/<str:token>/", views.cashier, name="cashier"),
]
