from django.urls import path

from mobileca.payments import notify_views

app_name = "notify"
urlpatterns = [
    path("alipay/", notify_views.alipay, name="alipay"),
    path("wechatpay/", notify_views.wechatpay, name="wechatpay"),
]
