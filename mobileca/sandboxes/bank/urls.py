from django.urls import path

from mobileca.sandboxes.bank import views

app_name = "sandbox_bank"
urlpatterns = [
    path("v1/transfers", views.transfer, name="transfer"),
    path("v1/sub-accounts", views.sub_account_open, name="sub_account_open"),
    path("v1/accounts/<str:number>/credits", views.credits, name="credits"),
    path("accounts/<str:number>/", views.account_page, name="account"),
    path("accounts/<str:number>/transfers/<int:transfer_id>/", views.receipt, name="receipt"),
    path("accounts/<str:number>/transfers/<int:transfer_id>/receipt.pdf", views.receipt_pdf, name="receipt_pdf"),
]
