from django.urls import path

from mobileca.sandboxes.alipay import views

app_name = "sandbox_alipay"
urlpatterns = [
    path("gateway.do", views.gateway, name="gateway"),
    path("cashier/<str:token>/", views.cashier, name="cashier"),
]
