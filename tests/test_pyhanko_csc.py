"""A peer nobody here wrote signs through /csc/v2 (issue 17): pyHanko's stock CSC client, unchanged, over real HTTP
against a running server, signs a PDF by both ways a credential is authorised — the claimant's own tool sending the
PIN, and a platform whose request the claimant approves on the phone — and pyHanko's validator, fetching the
server's OCSP responses and CRLs named in the certificates (revocation checking required), finds each signature
intact, valid and trusted under the platform's root.

Time-stamps (PAdES B-T and beyond) are not asked for here: they need the time-stamping method (CSC
``signatures/timestamp``); a test of B-LTA adds a ``timestamper`` to ``async_sign_pdf`` and a validation of the
time-stamp token, nothing else changes."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from mobileca.cards.models import Card
from mobileca.shield import callers, keyuse
from mobileca.shield.models import KeyUseAuthorization, OperationRecord
from tests.support.oauth import platform_bearer
from tests.support.shield import LEGAL_REP, PIN, activated_credential, card, register_enterprise  # noqa: F401


class PinAuthorization(CSCAuthorizationManager):
    """The claimant's own tool: the PIN in the request (pyHanko's own request format, CSC 1.0 names and all)."""

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        request = self.format_csc_auth_request(pin=PIN, hash_b64s=hash_b64s)
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.csc_session_info.endpoint_url("credentials/authorize"),
                headers=self.auth_headers,
                json=request,
                raise_for_status=True,
            ) as response,
        ):
            return self.parse_csc_auth_response(await response.json())


class PhoneAuthorization(CSCAuthorizationManager):
    """A platform: no PIN; the request waits for the claimant's phone (202 and a handle); authorizeCheck until the
    SAD comes. The claimant's approval is the phone page's service, called as the page calls it."""

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        request = self.format_csc_auth_request(hash_b64s=hash_b64s)
        async with aiohttp.ClientSession() as session:
            async with session.post(
                self.csc_session_info.endpoint_url("credentials/authorize"), headers=self.auth_headers, json=request
            ) as response:
                assert response.status == 202, await response.text()
                pending = await response.json()
            public_ref = pending["authorizationURL"].rstrip("/").rsplit("/", 1)[-1]
            await asyncio.to_thread(_approve_on_the_phone, public_ref)
            for _ in range(50):
                async with session.post(
                    self.csc_session_info.endpoint_url("credentials/authorizeCheck"),
                    headers=self.auth_headers,
                    json={"handle": pending["handle"]},
                ) as response:
                    answer = await response.json()
                    if response.status == 200:
                        return self.parse_csc_auth_response(answer)
                    assert response.status == 202 and answer["handle"] == pending["handle"], answer
                await asyncio.sleep(0.1)
        raise AssertionError("the approval never arrived")


def _approve_on_the_phone(public_ref: str) -> None:
    keyuse.approve_on_phone(public_ref=public_ref, account=LEGAL_REP, pin=PIN, address="127.0.0.1")


def _small_pdf() -> bytes:
    writer = PdfFileWriter()
    page = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
            generic.pdf_name("/Resources"): generic.DictionaryObject(),
        }
    )
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def _sign_and_validate(
    service_url: str, credential_id: str, bearer: str, manager: type[CSCAuthorizationManager], root: bytes
) -> tuple[Any, ValidationContext]:
    session_info = CSCServiceSessionInfo(service_url, credential_id, oauth_token=bearer, api_ver="v2")
    async with aiohttp.ClientSession() as session:
        credential_info = await fetch_certs_in_csc_credential(session, session_info)
        signer = CSCSigner(session, manager(session_info, credential_info))
        writer = IncrementalPdfFileWriter(io.BytesIO(_small_pdf()))
        signed = await signers.async_sign_pdf(
            writer, signers.PdfSignatureMetadata(field_name="Signature1", reason="投标文件"), signer=signer
        )
    reader = PdfFileReader(signed)
    (embedded,) = reader.embedded_signatures
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(root)], allow_fetching=True, revocation_mode="hard-fail"
    )
    try:
        status = await async_validate_pdf_signature(embedded, signer_validation_context=context)
    finally:
        await context.aclose()  # the fetchers' HTTP sessions
    return status, context


@pytest.mark.django_db(transaction=True)
def test_pyhanko_signs_a_pdf_through_the_api_both_ways_and_validates_it_against_the_live_pki(
    card: Card, live_server: Any, settings: Any
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from mobileca.ca import facade as ca_facade
    from mobileca.ca.services import ca_init

    settings.MOBILECA_PUBLIC_URL = live_server.url  # the certificates name this server's OCSP responder and CRLs
    ca_init()
    register_enterprise(card)
    credential = activated_credential(card)
    root = x509.load_pem_x509_certificate(ca_facade.chain_pems()[-1].encode()).public_bytes(Encoding.DER)

    start = callers.device_start(client_name="pyHanko")  # the claimant's tool, logged in from the phone
    callers.device_decide(user_code=start.user_code, account=LEGAL_REP, allow=True)
    tool_token, _ = callers.device_token(device_code=start.device_code)
    platform_token = platform_bearer(credential.claim.platform)

    for bearer, manager in ((tool_token, PinAuthorization), (platform_token, PhoneAuthorization)):
        status, context = asyncio.run(_sign_and_validate(live_server.url, credential.service_no, bearer, manager, root))
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert context.ocsps and context.crls  # fetched from the live server: the signer's OCSP, the CA's CRL
        assert status.signing_cert.serial_number == int(credential.sign_serial, 16)

    assert list(KeyUseAuthorization.objects.order_by("pk").values_list("status", flat=True)) == ["used", "used"]
    assert OperationRecord.objects.filter(action="sign", credential=credential).count() == 2
