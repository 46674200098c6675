from django.urls import path

from mobileca.sandboxes.bank import views

app_name = "sandbox_bank"
urlpatterns = [
    path("v1/transfers", views.transfer, name="transfer"),
    path("accounts/<str:number>/", views.account_page, name="account"),
]
