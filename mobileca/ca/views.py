"""Public PKI endpoints: CA certificates (caIssuers), the chain, CRLs, and the OCSP responder (GET and POST)."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from mobileca.ca import tsa as time_stamping
from mobileca.ca.models import AuthorityRole
from mobileca.ca.ocsp import answer
from mobileca.ca.services import authority, authority_by_serial, certificate_of, crl_latest, crl_of_authority
from mobileca.core.clock import now
from mobileca.core.http import client_address
from mobileca.core.middleware import own_boundary


@require_GET
def ca_certificate(request: HttpRequest, role: str = "", serial: str = "") -> HttpResponse:
    """The active CA of ``role``, or any CA (retired issuing CAs included) by ``serial``: what a certificate's
    caIssuers names."""
    record = authority_by_serial(serial) if serial else authority(role)
    response = HttpResponse(bytes(record.certificate_der), content_type="application/pkix-cert")
    response["Content-Disposition"] = f'attachment; filename="mobileca-{role or record.serial_hex}.crt"'
    return response


@require_GET
def chain(request: HttpRequest) -> HttpResponse:
    pem = b"".join(
        certificate_of(authority(role)).public_bytes(serialization.Encoding.PEM)
        for role in (AuthorityRole.ISSUING, AuthorityRole.ROOT)
    )
    return HttpResponse(pem, content_type="application/pem-certificate-chain")


@require_GET
def crl(request: HttpRequest, role: str = "", serial: str = "") -> HttpResponse:
    """The latest CRL of the active CA of ``role``, or of any CA (retired issuing CAs included) by ``serial``;
    cacheable for ``MOBILECA_CRL_MAX_AGE`` at most (a new one is published on every revocation) and never past its
    nextUpdate; ETag and Last-Modified for conditional GETs (issue 16)."""
    latest = crl_of_authority(serial) if serial else crl_latest(role)
    der = bytes(latest.der)
    etag = f'"{hashlib.sha256(der).hexdigest()}"'
    max_age = max(0, min(settings.MOBILECA_CRL_MAX_AGE, int((latest.next_update - now()).total_seconds())))
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(latest.this_update.timestamp()),
        "Cache-Control": f"public, max-age={max_age}, no-transform",
    }
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(der, content_type="application/pkix-crl")
    for name, value in headers.items():
        response[name] = value
    return response


@csrf_exempt
def ocsp(request: HttpRequest, encoded: str | None = None) -> HttpResponse:
    """The OCSP responder where ``config.wsgi``'s ``OcspResponder`` does not answer first (the test client, the
    development server): the same ``answer``."""
    result = answer(
        method=request.method or "GET",
        encoded=encoded,
        body=request.body if request.method == "POST" else b"",
        content_type=request.content_type or "",
        if_none_match=request.headers.get("If-None-Match", ""),
        client=client_address(request),
    )
    response = HttpResponse(result.body, status=result.status)
    for name, value in result.headers:
        response[name] = value
    return response


@csrf_exempt
@own_boundary
def tsa(request: HttpRequest) -> HttpResponse:
    """The time-stamping authority over HTTP (RFC 3161 §3.4): POST ``application/timestamp-query``, answered
    ``application/timestamp-reply``, a token or a rejection saying why (an unreadable request, another content type,
    an oversized body included: the client reads PKIFailureInfo, never an HTTP error). Other methods: 405."""
    if request.method != "POST":
        response = HttpResponse(status=405)
        response["Allow"] = "POST"
        return response
    if (request.content_type or "") != time_stamping.REQUEST_TYPE:
        body = time_stamping.rejection("bad_request", f"the request must be {time_stamping.REQUEST_TYPE}")
    else:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > time_stamping.MAX_REQUEST:
            body = time_stamping.rejection("bad_data_format", "empty or oversized request")
        else:
            body = time_stamping.respond(request.read(time_stamping.MAX_REQUEST + 1))
    response = HttpResponse(body, content_type=time_stamping.REPLY_TYPE)
    response["Cache-Control"] = "no-store"
    return response
