from django.urls import path

from mobileca.backoffice import views

app_name = "backoffice"
urlpatterns = [
    path("", views.home, name="home"),
    path("remittances/", views.remittances, name="remittances"),
    path("remittances/<int:payment_id>/confirm/", views.remittance_confirm_view, name="remittance_confirm"),
    path("vouchers/<int:voucher_id>/", views.voucher_view, name="voucher"),
    path("vouchers/<int:voucher_id>/reject/", views.voucher_reject_view, name="voucher_reject"),
    path("statements/", views.statements, name="statements"),
    path("statements/lines/<int:line_id>/claim/", views.line_claim_view, name="line_claim"),
    path("statements/lines/<int:line_id>/return/", views.line_return_view, name="line_return"),
    path("refunds/", views.refunds, name="refunds"),
    path("orders/", views.orders, name="orders"),
    path("tenders/", views.tenders, name="tenders"),
    path("support/", views.support, name="support"),
    path("support/requests/", views.support_requests, name="support_requests"),
    path("support/<int:enterprise_id>/", views.support_enterprise, name="support_enterprise"),
    path("audit/", views.audit, name="audit"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("tenders/<str:project_no>/", views.tender_bids, name="tender_bids"),
]
