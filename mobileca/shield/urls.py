from django.urls import path

from mobileca.shield import views

app_name = "shield"
urlpatterns = [
    path("claim/<str:ticket>/", views.h5_claim, name="h5_claim"),
    path("claim/<str:ticket>/login/", views.h5_login, name="h5_login"),
    path("claim/<str:ticket>/service/", views.h5_service, name="h5_service"),
    path("claim/<str:ticket>/enterprise/", views.h5_enterprise, name="h5_enterprise"),
    path("claim/<str:ticket>/agreements/", views.h5_agreements, name="h5_agreements"),
    path("claim/<str:ticket>/face/", views.h5_face, name="h5_face"),
    path("claim/<str:ticket>/legal-rep/face/", views.h5_legal_rep_face, name="h5_legal_rep_face"),
    path("claim/<str:ticket>/sms/send/", views.h5_sms_send, name="h5_sms_send"),
    path("claim/<str:ticket>/sms/verify/", views.h5_sms_verify, name="h5_sms_verify"),
    path("claim/<str:ticket>/transfer/start/", views.h5_transfer_start, name="h5_transfer_start"),
    path("claim/<str:ticket>/transfer/confirm/", views.h5_transfer_confirm, name="h5_transfer_confirm"),
    path("claim/<str:ticket>/reverse/start/", views.h5_reverse_start, name="h5_reverse_start"),
    path("claim/<str:ticket>/reverse/voucher/", views.h5_reverse_voucher, name="h5_reverse_voucher"),
    path("claim/<str:ticket>/approval/", views.h5_request_approval, name="h5_request_approval"),
    path("claim/<str:ticket>/pin/", views.h5_pin, name="h5_pin"),
    path("claim/<str:ticket>/certificates/<str:usage>.pem", views.h5_certificate, name="h5_certificate"),
    path("login/", views.h5_login, name="h5_members_login"),
    path("members/", views.h5_members, name="h5_members"),
    path("members/<int:membership_id>/approve/", views.h5_member_approve, name="h5_member_approve"),
    path("members/<int:membership_id>/reject/", views.h5_member_reject, name="h5_member_reject"),
    path("members/<int:membership_id>/remove/", views.h5_member_remove, name="h5_member_remove"),
    path("members/<int:membership_id>/hand-over/", views.h5_member_hand_over, name="h5_member_hand_over"),
    path("enterprises/<str:uscc>/members/add/", views.h5_member_add, name="h5_member_add"),
    path("device/", views.h5_device, name="h5_device"),
    path("authorizations/", views.h5_authorizations, name="h5_authorizations"),
    path("authorizations/<str:public_ref>/", views.h5_authorization, name="h5_authorization"),
    path("credentials/", views.h5_credentials, name="h5_credentials"),
    path("credentials/<str:service_no>/pin/change/", views.h5_pin_change, name="h5_pin_change"),
    path("credentials/<str:service_no>/pin/reset/", views.h5_pin_reset, name="h5_pin_reset"),
    path("records/", views.h5_records, name="h5_records"),
    path("auth/callback/", views.h5_callback, name="h5_callback"),
    path("face/return/", views.h5_face_return, name="h5_face_return"),
]
