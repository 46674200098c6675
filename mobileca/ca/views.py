"""Public PKI endpoints: CA certificates (caIssuers), the chain, CRLs, and the OCSP responder (GET and POST)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from cryptography.hazmat.primitives import serialization
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from mobileca.ca.models import AuthorityRole
from mobileca.ca.services import authority, certificate_of, crl_latest, ocsp_respond

MAX_OCSP_REQUEST = 10_000


@require_GET
def ca_certificate(request: HttpRequest, role: str) -> HttpResponse:
    record = authority(role)
    response = HttpResponse(bytes(record.certificate_der), content_type="application/pkix-cert")
    response["Content-Disposition"] = f'attachment; filename="mobileca-{role}.crt"'
    return response


@require_GET
def chain(request: HttpRequest) -> HttpResponse:
    pem = b"".join(
        certificate_of(authority(role)).public_bytes(serialization.Encoding.PEM)
        for role in (AuthorityRole.ISSUING, AuthorityRole.ROOT)
    )
    return HttpResponse(pem, content_type="application/pem-certificate-chain")


@require_GET
def crl(request: HttpRequest, role: str) -> HttpResponse:
    latest = crl_latest(role)
    response = HttpResponse(bytes(latest.der), content_type="application/pkix-crl")
    response["Cache-Control"] = (
        f"public, max-age={max(0, int((latest.next_update - latest.this_update).total_seconds() // 4))}"
    )
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
def ocsp(request: HttpRequest, encoded: str = "") -> HttpResponse:
    if request.method == "POST":
        if request.content_type != "application/ocsp-request" or len(request.body) > MAX_OCSP_REQUEST:
            return HttpResponseBadRequest("expected application/ocsp-request")
        der = request.body
    else:
        try:
            der = base64.b64decode(unquote(encoded), validate=False)
        except (binascii.Error, ValueError):
            der = b""
    response = HttpResponse(ocsp_respond(der), content_type="application/ocsp-response")
    if request.method == "GET":
        response["Cache-Control"] = "public, max-age=300, no-transform"  # RFC 5019 §6.2
    return response
