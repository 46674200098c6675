from django.urls import path

from mobileca.backoffice import auditor, finance, support, tenders, views

app_name = "backoffice"
urlpatterns = [
    path("", views.home, name="home"),
    path("remittances/", finance.remittances, name="remittances"),
    path("remittances/<int:payment_id>/confirm/", finance.remittance_confirm_view, name="remittance_confirm"),
    path("vouchers/<int:voucher_id>/", finance.voucher_view, name="voucher"),
    path("vouchers/<int:voucher_id>/reject/", finance.voucher_reject_view, name="voucher_reject"),
    path("statements/", finance.statements, name="statements"),
    path("statements/lines/<int:line_id>/claim/", finance.line_claim_view, name="line_claim"),
    path("statements/lines/<int:line_id>/return/", finance.line_return_view, name="line_return"),
    path("refunds/", finance.refunds, name="refunds"),
    path("orders/", finance.orders, name="orders"),
    path("tenders/", tenders.tenders, name="tenders"),
    path("support/", support.support, name="support"),
    path("support/requests/", support.support_requests, name="support_requests"),
    path("support/<int:enterprise_id>/", support.support_enterprise, name="support_enterprise"),
    path("support/<int:enterprise_id>/cards/<int:card_id>/revoke/", support.support_revoke, name="support_revoke"),
    path("audit/", auditor.audit, name="audit"),
    path("audit/export.csv", auditor.audit_export, name="audit_export"),
    path("tenders/<str:project_no>/", tenders.tender_bids, name="tender_bids"),
]
