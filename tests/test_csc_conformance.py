"""What a standard CSC API v2 client meets at /csc/v2/ (issue 17, items 1–12; R4.5, R4.6): the info document a
client discovers the service with, the authorisation objects per caller, the CSC 1.0 parameter names, CSC's error
statuses and wording, and two faults: a SAD spent by a refused request, and a SAD that outlived its key."""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.test import Client

from mobileca.accounts.models import User
from mobileca.cards.models import Card
from mobileca.shield import callers, oauth
from mobileca.shield.api import distinguished_name, serial_hex
from mobileca.shield.models import Credential, KeyUseAuthorization, OperationRecord
from tests.support.oauth import platform_bearer
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    Api,
    _device_login,
    _pay,
    _renew,
    _renewal_ticket,
    _scan_and_login,
    activated_credential,
    ca_ready,
    card,
    phone_login,
    registered,
)

ECDSA_SHA256, SHA256 = "1.2.840.10045.4.3.2", "2.16.840.1.101.3.4.2.1"
CSC_V2_METHODS = {
    "info",
    "auth/login",
    "auth/revoke",
    "credentials/list",
    "credentials/info",
    "credentials/authorize",
    "credentials/authorizeCheck",
    "credentials/extendTransaction",
    "credentials/getChallenge",
    "credentials/sendOTP",
    "signatures/signHash",
    "signatures/signDoc",
    "signatures/signPolling",
    "signatures/timestamp",
}


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@pytest.fixture
def world(registered: Card, ca_ready: None) -> tuple[Credential, Api, Api]:
    """An activated credential, its claimant's tool (device login) and its platform (bearer from its API key)."""
    credential = activated_credential(registered)
    tool = Api(_device_login(phone_login(LEGAL_REP)))
    platform = Api(platform_bearer(credential.claim.platform))
    return credential, tool, platform


def _authorize(api: Api, credential: Credential, hashes: list[str], **extra: Any) -> tuple[int, dict[str, Any]]:
    body = {"credentialID": credential.service_no, "numSignatures": len(hashes), "hashes": hashes, **extra}
    return api.post("credentials/authorize", body)


def _sad(api: Api, credential: Credential, hashes: list[str]) -> str:
    status, answer = _authorize(api, credential, hashes, authData=[{"id": "PIN", "value": PIN}])
    assert status == 200, answer
    return str(answer["SAD"])


def _sign(api: Api, credential: Credential, sad: str, hashes: list[str], **extra: Any) -> tuple[int, dict[str, Any]]:
    body = {"credentialID": credential.service_no, "SAD": sad, "hashes": hashes, "signAlgo": ECDSA_SHA256, **extra}
    return api.post("signatures/signHash", body)


def _statuses() -> list[str]:
    return list(KeyUseAuthorization.objects.order_by("pk").values_list("status", flat=True))


# --- items 1, 2, 7: info -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_oauth2_base_in_info_is_where_a_client_finds_the_token_endpoint() -> None:
    """Item 1: a client builds ``<oauth2>/oauth2/token``; that address is the OAuth 2.0 token endpoint."""
    _, info = Api().post("info", {})
    assert info["oauth2"] == "http://testserver/csc/v2" and "oauth2Issuer" not in info
    token_url = info["oauth2"] + "/oauth2/token"
    answer = Client().post(
        token_url.removeprefix("http://testserver"),
        "grant_type=client_credentials&client_id=nobody&client_secret=wrong",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code in (400, 401), answer.content  # an OAuth refusal of these credentials, not a 404
    assert isinstance(answer.json()["error"], str)  # RFC 6749 §5.2's shape


@pytest.mark.django_db
def test_info_lists_only_routed_csc_methods_the_extensions_apart_and_what_is_offered() -> None:
    status, info = Api().post("info", {})
    assert status == 200 and info["specs"] == "2.0.0.2"
    assert set(info["methods"]) <= CSC_V2_METHODS and {"info", "signatures/signHash"} <= set(info["methods"])
    assert info["x-mobileca-methods"] == ["credentials/decrypt", "x-mobileca/records"]
    for method in info["methods"] + info["x-mobileca-methods"]:  # every one listed is answered here
        assert Client().post(f"/csc/v2/{method}", "{}", content_type="application/json").status_code != 404, method
    assert Client().post("/csc/v2/signatures/signDoc", "{}", content_type="application/json").status_code == 404
    assert info["authType"] == ["oauth2client", "oauth2code"]  # a platform's secret is no bearer token: no "external"
    assert info["conformance_levels"][0] == "Ades-B-B"
    assert ("Ades-B-T" in info["conformance_levels"]) == ("signatures/timestamp" in info["methods"])


@pytest.mark.django_db
def test_the_logo_is_a_png_of_at_most_256_pixels_served_at_its_address() -> None:
    _, info = Api().post("info", {})
    answer = Client().get(info["logo"].removeprefix("http://testserver"))
    assert answer.status_code == 200 and answer["Content-Type"] == "image/png"
    png = b"".join(answer.streaming_content) if answer.streaming else answer.content  # type: ignore[attr-defined]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert 0 < width <= 256 and 0 < height <= 256


# --- item 4: authorizeCheck -----------------------------------------------------------------------------------


def test_authorize_check_while_pending_answers_202_with_the_same_handle(
    world: tuple[Credential, Api, Api],
) -> None:
    credential, _, platform = world
    status, pending = _authorize(platform, credential, [_digest("a")])
    assert status == 202
    status, waiting = platform.post("credentials/authorizeCheck", {"handle": pending["handle"]})
    assert status == 202 and waiting["handle"] == pending["handle"] and waiting["expiresIn"] > 0
    status, unknown = platform.post("credentials/authorizeCheck", {"handle": "h_unknown"})
    assert (status, unknown["error"]) == (400, "invalid_request")
    assert unknown["error_description"].startswith("Invalid parameter handle")


# --- item 5: the authorisation objects, per caller ----------------------------------------------------------------


def test_the_auth_objects_say_what_each_caller_can_send(world: tuple[Credential, Api, Api]) -> None:
    credential, tool, platform = world
    auth = tool.post("credentials/info", {"credentialID": credential.service_no})[1]["auth"]
    assert auth["mode"] == "explicit" and auth["expression"] == "PIN OR PHONE"
    assert [(item["type"], item["id"]) for item in auth["objects"]] == [
        ("Password", "PIN"),
        ("ChallengeResponseOOB", "PHONE"),
    ]
    auth = platform.post("credentials/info", {"credentialID": credential.service_no})[1]["auth"]
    assert auth["mode"] == "explicit" and auth["expression"] == "PHONE"
    assert [(item["type"], item["id"]) for item in auth["objects"]] == [("ChallengeResponseOOB", "PHONE")]
    listed = platform.post("credentials/list", {"credentialInfo": True, "authInfo": True})[1]
    assert listed["credentialInfos"][0]["auth"] == auth


def test_a_platform_authorises_out_of_band_and_a_pin_from_it_is_refused_storing_nothing(
    world: tuple[Credential, Api, Api],
) -> None:
    credential, tool, platform = world
    for pin_given in ({"authData": [{"id": "PIN", "value": PIN}]}, {"PIN": PIN}, {"authData": [{"id": "PIN"}]}):
        status, refused = _authorize(platform, credential, [_digest("a")], **pin_given)
        assert (status, refused["error"]) == (400, "invalid_request"), pin_given
        assert "a platform never sends the PIN" in refused["error_description"]
    assert not KeyUseAuthorization.objects.exists() and not OperationRecord.objects.filter(action="sign").exists()
    credential.refresh_from_db()
    assert credential.pin_failures == 0
    for oob in ({"authData": [{"id": "PHONE"}]}, {"authData": []}, {}):
        status, pending = _authorize(platform, credential, [_digest("a")], **oob)
        assert status == 202 and pending["handle"], oob
    status, pending = _authorize(tool, credential, [_digest("b")], authData=[{"id": "PHONE"}])
    assert status == 202 and pending["handle"]  # the claimant's tool may have the phone approve too
    assert _statuses() == ["pending"] * 4
    status, unknown = _authorize(tool, credential, [_digest("c")], authData=[{"id": "OTP", "value": "123456"}])
    assert status == 400 and "unknown authentication object OTP" in unknown["error_description"]
    assert KeyUseAuthorization.objects.count() == 4


# --- item 6: CSC 1.0 names ----------------------------------------------------------------------------------------


def test_csc_1_0_names_are_read_beside_the_v2_ones(world: tuple[Credential, Api, Api]) -> None:
    credential, tool, _ = world
    digest = _digest("pyHanko's way")
    status, authorized = tool.post(
        "credentials/authorize",
        {"credentialID": credential.service_no, "numSignatures": 1, "hash": [digest], "hashAlgo": SHA256, "PIN": PIN},
    )
    assert status == 200 and authorized["SAD"]
    status, signed = tool.post(
        "signatures/signHash",
        {
            "credentialID": credential.service_no,
            "SAD": authorized["SAD"],
            "hash": [digest],
            "hashAlgo": SHA256,
            "signAlgo": ECDSA_SHA256,
        },
    )
    assert status == 200 and len(signed["signatures"]) == 1
    assert OperationRecord.objects.filter(action="sign").count() == 1


def test_a_v1_and_a_v2_name_that_disagree_are_refused_and_nothing_changes(world: tuple[Credential, Api, Api]) -> None:
    credential, tool, _ = world
    one, other = _digest("one"), _digest("other")
    status, refused = _authorize(tool, credential, [one], hash=[other], authData=[{"id": "PIN", "value": PIN}])
    assert status == 400 and "hashes and hash" in refused["error_description"]
    status, refused = _authorize(tool, credential, [one], authData=[{"id": "PIN", "value": PIN}], PIN="975310")
    assert status == 400 and "differ" in refused["error_description"]
    assert not KeyUseAuthorization.objects.exists()
    credential.refresh_from_db()
    assert credential.pin_failures == 0  # the PINs were not tried
    sad = _sad(tool, credential, [one])
    status, refused = _sign(tool, credential, sad, [one], hash=[other])
    assert status == 400 and "hashes and hash" in refused["error_description"]
    status, refused = _sign(tool, credential, sad, [one], hashAlgorithmOID=SHA256, hashAlgo="2.16.840.1.101.3.4.2.3")
    assert status == 400 and "differ" in refused["error_description"]
    assert _statuses() == ["authorized"] and not OperationRecord.objects.filter(action="sign").exists()


# --- item 8: certInfo --------------------------------------------------------------------------------------------


def test_cert_info_names_the_attributes_and_gives_the_serial_as_even_upper_case_hex(
    world: tuple[Credential, Api, Api],
) -> None:
    from mobileca.ca import facade

    credential, tool, _ = world
    cert = tool.post("credentials/info", {"credentialID": credential.service_no, "certInfo": True})[1]["cert"]
    certificate = x509.load_pem_x509_certificate(facade.certificate_pem(serial_hex=credential.sign_serial).encode())
    for dn in (cert["subjectDN"], cert["issuerDN"]):
        assert "2.5.4." not in dn and "1.2." not in dn, dn  # names, never dotted OIDs
    assert "givenName=" in cert["subjectDN"] and "organizationIdentifier=NTRCN-" in cert["subjectDN"]
    names = {"givenName": NameOID.GIVEN_NAME, "organizationIdentifier": NameOID.ORGANIZATION_IDENTIFIER}
    names |= {"description": x509.ObjectIdentifier("2.5.4.13"), "serialNumber": NameOID.SERIAL_NUMBER}
    assert x509.Name.from_rfc4514_string(cert["subjectDN"], names) == certificate.subject  # it reads back exactly
    assert x509.Name.from_rfc4514_string(cert["issuerDN"], names) == certificate.issuer
    serial = cert["serialNumber"]
    assert serial == serial.upper() and len(serial) % 2 == 0 and int(serial, 16) == certificate.serial_number
    assert bytes.fromhex(serial)  # whole bytes
    assert (cert["validFrom"], cert["validTo"]) == (
        certificate.not_valid_before_utc.strftime("%Y%m%d%H%M%SZ"),
        certificate.not_valid_after_utc.strftime("%Y%m%d%H%M%SZ"),
    )


@pytest.mark.parametrize(
    ("serial", "shown"),
    [
        (0x1ABC, "1ABC"),
        (0xABC, "0ABC"),
        (0x5, "05"),
        (int("7" + "f" * 38, 16), "07" + "F" * 38),  # 39 hex digits, as a 155-bit random serial often has
        (int("f" * 40, 16), "F" * 40),
    ],
)
def test_a_serial_number_is_hex_upper_case_with_a_leading_zero_when_odd(serial: int, shown: str) -> None:
    assert serial_hex(serial) == shown


def test_distinguished_names_use_rfc_4519_names() -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "NTRCN-91360200MA0000015E"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "42"),
            x509.NameAttribute(NameOID.GIVEN_NAME, "建国"),
            x509.NameAttribute(NameOID.COMMON_NAME, "景德镇, 瓷都"),
        ]
    )
    assert distinguished_name(name) == (
        "CN=景德镇\\, 瓷都,givenName=建国,serialNumber=42,organizationIdentifier=NTRCN-91360200MA0000015E,C=CN"
    )


# --- items 9, 10: CSC's statuses, wording and parameter checks -----------------------------------------------------


def test_parameters_are_checked_with_csc_wording_before_the_sad_is_spent(world: tuple[Credential, Api, Api]) -> None:
    credential, tool, _ = world
    digest = _digest("x")
    status, refused = tool.post("credentials/info", {"credentialID": credential.service_no, "certificates": "all"})
    assert (status, refused["error_description"]) == (400, "Invalid parameter certificates")
    status, refused = tool.post("credentials/list", {"credentialInfo": True, "certificates": "full"})
    assert (status, refused["error_description"]) == (400, "Invalid parameter certificates")
    status, refused = tool.post("credentials/info", {})
    assert (status, refused["error_description"]) == (400, "Missing (or invalid type) string parameter credentialID")
    status, refused = _authorize(tool, credential, [digest] * 1001, authData=[{"id": "PIN", "value": PIN}])
    assert status == 400 and refused["error_description"] == "Invalid parameter hashes"
    status, refused = tool.post(
        "credentials/authorize",
        {"credentialID": credential.service_no, "numSignatures": 1001, "hashes": [digest], "PIN": PIN},
    )
    assert status == 400 and refused["error_description"].startswith("Numbers of signatures is too high")
    assert not KeyUseAuthorization.objects.exists()

    sad = _sad(tool, credential, [digest])
    body = {"credentialID": credential.service_no, "SAD": sad, "hashes": [digest]}
    status, refused = tool.post("signatures/signHash", body)
    assert (status, refused["error"]) == (400, "invalid_request")
    assert refused["error_description"] == "Missing (or invalid type) string parameter signAlgo"
    status, refused = _sign(tool, credential, sad, [digest], hashAlgorithmOID="2.16.840.1.101.3.4.2.3")
    assert status == 400 and refused["error_description"].startswith("Invalid parameter hashAlgorithmOID")
    status, refused = _sign(tool, credential, sad, [digest], signAlgoParams="BQA=")
    assert status == 400 and refused["error_description"].startswith("Invalid parameter signAlgoParams")
    status, refused = _sign(tool, credential, sad, ["not base64!"])
    assert status == 400 and refused["error_description"].startswith("Invalid Base64 hash string parameter")
    status, refused = _sign(tool, credential, sad, [base64.b64encode(b"short").decode()])
    assert status == 400 and refused["error_description"].startswith("Invalid digest value length")
    status, refused = _sign(tool, credential, sad, [])
    assert status == 400 and refused["error_description"] == "Empty hash array"
    status, refused = _sign(tool, credential, "sad_forged", [digest])
    assert status == 400 and refused["error_description"].startswith("Invalid parameter SAD")
    assert _statuses() == ["authorized"] and not OperationRecord.objects.filter(action="sign").exists()
    assert _sign(tool, credential, sad, [digest], hashAlgorithmOID=SHA256)[0] == 200


def test_a_missing_sad_is_the_bearers_own_or_refused(
    world: tuple[Credential, Api, Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CSC §11.10: with a credential-scope access token the SAD may be left out (the token stands for it)."""
    credential, tool, _ = world
    digest = _digest("x")
    status, refused = tool.post(
        "signatures/signHash", {"credentialID": credential.service_no, "hashes": [digest], "signAlgo": ECDSA_SHA256}
    )
    assert (status, refused["error_description"]) == (400, "Missing (or invalid type) string parameter SAD")
    sad = _sad(tool, credential, [digest])
    real = oauth.caller_for_bearer

    def carrying_the_sad(token: str) -> callers.Caller | None:
        caller = real(token)
        return callers.Caller(caller.kind, caller.ident, caller.platform, sad=sad) if caller else None

    monkeypatch.setattr(oauth, "caller_for_bearer", carrying_the_sad)
    status, signed = tool.post(
        "signatures/signHash", {"credentialID": credential.service_no, "hashes": [digest], "signAlgo": ECDSA_SHA256}
    )
    assert status == 200 and len(signed["signatures"]) == 1 and _statuses() == ["used"]


# --- item 11: nothing is spent or recorded for a refusal; a failure after spending is recorded as one ---------------


def test_a_wrong_sign_algo_spends_nothing_and_the_retry_signs_with_exactly_one_record(
    world: tuple[Credential, Api, Api],
) -> None:
    credential, tool, _ = world
    digest = _digest("bid")
    sad = _sad(tool, credential, [digest])
    status, refused = _sign(tool, credential, sad, [digest], signAlgo="1.2.840.113549.1.1.11")  # RSA: not this key
    assert (status, refused["error"]) == (400, "invalid_request")
    assert refused["error_description"].startswith("Invalid parameter signAlgo")
    assert _statuses() == ["authorized"] and not OperationRecord.objects.filter(credential=credential).exclude(
        action="claim"
    )
    status, signed = _sign(tool, credential, sad, [digest])
    assert status == 200 and len(signed["signatures"]) == 1
    assert list(OperationRecord.objects.exclude(action="claim").values_list("action", flat=True)) == ["sign"]


def test_a_key_service_failure_after_the_sad_was_spent_is_recorded_as_a_failure(
    world: tuple[Credential, Api, Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mobileca.ca import facade as ca_facade

    credential, tool, _ = world
    digest = _digest("bid")
    sad = _sad(tool, credential, [digest])

    def unavailable(**kwargs: Any) -> Any:
        raise ca_facade.KeyBackendError("the HSM is away")

    monkeypatch.setattr(ca_facade, "unwrap_private_key", unavailable)
    status, refused = _sign(tool, credential, sad, [digest])
    assert (status, refused["error"]) == (503, "temporarily_unavailable")
    assert list(OperationRecord.objects.exclude(action="claim").values_list("action", flat=True)) == ["sign_failed"]
    record = OperationRecord.objects.get(action="sign_failed")
    assert record.audit_event.action == "operation.sign_failed"
    assert record.audit_event.data["failure"] == "KeyBackendError"


# --- item 12: a SAD is bound to the key it was given for ------------------------------------------------------


def _renewed(bidder_client: Client, card: Card, finance: User) -> Credential:
    """A real renewal: paid, claimed on the phone by the claimant with the PIN; it re-keys."""
    bidder_client.get(f"/ca/cards/{card.cert_id}/claim/status/")  # the platform learns the activation
    card.refresh_from_db()
    _pay(_renew(bidder_client, card), finance)
    ticket = _renewal_ticket(bidder_client, card)
    phone = Client()
    _scan_and_login(phone, ticket, LEGAL_REP)
    assert phone.post(f"/h5/claim/{ticket}/renewal/", {"pin": PIN}).status_code == 302
    return Credential.objects.get()


def test_a_sad_approved_before_a_re_key_signs_nothing_after_it(
    world: tuple[Credential, Api, Api], bidder_client: Client, registered: Card, finance: User
) -> None:
    credential, tool, platform = world
    digest = _digest("before the renewal")
    sad = _sad(tool, credential, [digest])
    assert KeyUseAuthorization.objects.get().key_serial == credential.sign_serial
    status, pending = _authorize(platform, credential, [digest])  # asked on the phone before the renewal …
    assert status == 202
    renewed = _renewed(bidder_client, registered, finance)
    assert renewed.sign_serial != credential.sign_serial

    status, refused = _sign(tool, renewed, sad, [digest])
    assert (status, refused["error"]) == (400, "invalid_request")
    assert refused["error_description"].startswith("SAD was issued for a key this credential no longer has")
    assert KeyUseAuthorization.objects.filter(sad_digest=callers.digest(sad)).get().status == "authorized"  # unspent
    assert not OperationRecord.objects.filter(action__startswith="sign").exists()

    # … and approved after it: still the old key's request, refused alike
    from mobileca.shield import keyuse

    request = KeyUseAuthorization.objects.get(status="pending")
    keyuse.approve_on_phone(public_ref=request.public_ref, account=LEGAL_REP, pin=PIN, address=None)
    status, approved = platform.post("credentials/authorizeCheck", {"handle": pending["handle"]})
    assert status == 200
    status, refused = _sign(platform, renewed, approved["SAD"], [digest])
    assert status == 400 and refused["error_description"].startswith("SAD was issued for a key")

    fresh = _sad(tool, renewed, [digest])  # a new authorisation signs with the new key
    assert KeyUseAuthorization.objects.order_by("pk").last().key_serial == renewed.sign_serial  # type: ignore[union-attr]
    assert _sign(tool, renewed, fresh, [digest])[0] == 200
    assert OperationRecord.objects.filter(action="sign").count() == 1


def test_an_issued_serial_of_39_hex_digits_is_shown_with_its_leading_zero(
    registered: Card, ca_ready: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One random serial in sixteen has an odd number of hex digits; issue the credential's certificates with such
    serials and read them back through the API."""
    serials = iter(int(f"7{digit}" + "c" * 37, 16) for digit in "0123456789abcdef")
    monkeypatch.setattr(x509, "random_serial_number", lambda: next(serials))
    credential = activated_credential(registered)
    assert len(credential.sign_serial) == 39 and len(credential.encrypt_serial) == 39
    tool = Api(_device_login(phone_login(LEGAL_REP)))
    listed = tool.post("credentials/list", {"credentialInfo": True, "certInfo": True})[1]
    cert = listed["credentialInfos"][0]["cert"]
    assert cert["serialNumber"] == "0" + credential.sign_serial.upper() and len(cert["serialNumber"]) == 40
    assert cert["encryptionSerialNumber"] == "0" + credential.encrypt_serial.upper()


def test_an_envelope_for_another_certificate_is_refused_before_the_sad_is_spent(
    world: tuple[Credential, Api, Api], tmp_path: Any
) -> None:
    """Item 11 for decryption: openssl seals a file for some other certificate; nothing is spent or recorded."""
    import datetime
    import subprocess

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    credential, tool, _ = world
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone else")])
    moment = datetime.datetime.now(datetime.UTC)
    other = x509.CertificateBuilder(name, name, key.public_key(), 1, moment, moment + datetime.timedelta(days=1)).sign(
        key, hashes.SHA256()
    )
    (tmp_path / "other.pem").write_bytes(other.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "bid").write_bytes(b"sealed bid")
    sealed = subprocess.run(  # noqa: S603
        ["openssl", "cms", "-encrypt", "-aes-256-gcm", "-binary", "-recip", str(tmp_path / "other.pem"),  # noqa: S607
         "-outform", "DER", "-in", str(tmp_path / "bid"), "-out", str(tmp_path / "bid.p7m")],
        capture_output=True, check=False,
    )  # fmt: skip
    assert sealed.returncode == 0, sealed.stderr
    for envelope in ((tmp_path / "bid.p7m").read_bytes(), b"\x30\x03\x02\x01\x00"):
        digest = base64.b64encode(hashlib.sha256(envelope).digest()).decode()
        status, authorized = _authorize(
            tool, credential, [digest], operation="decrypt", authData=[{"id": "PIN", "value": PIN}]
        )
        assert status == 200
        body = {"credentialID": credential.service_no, "SAD": authorized["SAD"]}
        status, refused = tool.post("credentials/decrypt", {**body, "envelope": base64.b64encode(envelope).decode()})
        assert status == 400 and refused["error"] in ("not_a_recipient", "bad_envelope"), refused
    assert _statuses() == ["authorized", "authorized"]
    assert not OperationRecord.objects.filter(action__startswith="decrypt").exists()
