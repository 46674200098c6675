from django.urls import path, re_path

from mobileca.ca import views

app_name = "pki"
urlpatterns = [
    path("root.crt", views.ca_certificate, {"role": "root"}, name="root_certificate"),
    path("issuing.crt", views.ca_certificate, {"role": "issuing"}, name="issuing_certificate"),
    path("chain.pem", views.chain, name="chain"),
    path("root.crl", views.crl, {"role": "root"}, name="root_crl"),
    path("issuing.crl", views.crl, {"role": "issuing"}, name="issuing_crl"),
    re_path(r"^ca/(?P<serial>[0-9a-f]{1,42})\.crl$", views.crl, name="authority_crl"),
    re_path(r"^ca/(?P<serial>[0-9a-f]{1,42})\.crt$", views.ca_certificate, name="authority_certificate"),
    path("ocsp", views.ocsp, name="ocsp"),
    re_path(r"^ocsp/(?P<encoded>.+)$", views.ocsp, name="ocsp_get"),
]
