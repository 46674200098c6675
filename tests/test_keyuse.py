"""Using the key with the PIN (R4.3–R4.6, §7) through the remote-signing API under /csc/v2/: the tool's device login,
credentials, authorisations bound to hashes (SCAL2), single use, 5 minutes, the PIN lock-out and its doubling,
approval on the phone, signing, unwrapping an envelope's key, operation records, and the command-line tool."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.test import Client

from mobileca.cards.models import Card
from mobileca.core.clock import clock, now
from mobileca.shield.models import Credential, KeyUseAuthorization, OperationRecord
from tests.support.cli import tool_in_process
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    Api,
    _device_login,
    activated_credential,
    ca_ready,
    card,
    phone_login,
    registered,
)

PIN = "135790"


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _digest(text: str) -> str:
    return _b64(hashlib.sha256(text.encode()).digest())


@pytest.fixture
def claimant(registered: Card, ca_ready: None) -> tuple[Client, Api, Credential]:
    """An activated credential (made through the services) and its claimant signed in on the phone and in the tool."""
    credential = activated_credential(registered)
    phone = phone_login(LEGAL_REP)
    return phone, Api(_device_login(phone)), credential


def _authorize_with_pin(api: Api, credential: Credential, hashes_b64: list[str], pin: str = PIN) -> tuple[int, Any]:
    return api.post(
        "credentials/authorize",
        {
            "credentialID": credential.service_no,
            "numSignatures": len(hashes_b64),
            "hashes": hashes_b64,
            "authData": [{"id": "PIN", "value": pin}],
            "description": "测试",
            "fileName": "bid.pdf",
        },
    )


def _public_key(credential: Credential) -> ec.EllipticCurvePublicKey:
    from mobileca.ca import facade

    certificate = x509.load_pem_x509_certificate(facade.certificate_pem(serial_hex=credential.sign_serial).encode())
    key = certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def test_info_is_public_and_everything_else_needs_a_token(db: None) -> None:
    status, info = Api().post("info", {})
    assert status == 200 and info["specs"] == "2.0.0.2" and "signatures/signHash" in info["methods"]
    status, refused = Api().post("credentials/list", {})
    assert (status, refused["error"]) == (401, "invalid_token")
    assert Api("mcu_forged").post("credentials/list", {})[0] == 401


def test_the_device_login_can_be_denied(claimant: tuple[Client, Api, Credential]) -> None:
    phone, _, _ = claimant
    api = Api()
    _, start = api.post("oauth2/device", {})
    phone.post("/h5/device/", {"user_code": start["user_code"], "decision": "deny"})
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": start["device_code"]}
    assert api.post("oauth2/token", grant)[1]["error"] == "access_denied"


def test_credentials_list_and_info_show_the_claimants_credential_only(
    claimant: tuple[Client, Api, Credential],
) -> None:
    _, api, credential = claimant
    status, listed = api.post("credentials/list", {"credentialInfo": True, "certInfo": True})
    assert status == 200 and listed["credentialIDs"] == [credential.service_no]
    info = listed["credentialInfos"][0]
    assert info["cert"]["status"] == "valid" and info["key"]["status"] == "enabled" and info["SCAL"] == "2"
    serial = info["cert"]["serialNumber"]
    assert int(serial, 16) == int(credential.sign_serial, 16) and serial == serial.upper() and len(serial) % 2 == 0
    status, one = api.post("credentials/info", {"credentialID": credential.service_no})
    assert status == 200 and one["auth"]["objects"][0]["id"] == "PIN"
    status, unknown = api.post("credentials/info", {"credentialID": "ESD-NOPE"})
    assert (status, unknown["error"]) == (400, "invalid_request")
    assert unknown["error_description"].startswith("Invalid parameter credentialID")


def test_an_authorisation_signs_exactly_its_hashes_once(claimant: tuple[Client, Api, Credential]) -> None:
    # SCAL2: bound to the hashes; a different hash is refused; replay refused; recorded (R4.4)
    _, api, credential = claimant
    wanted, other = _digest("bid file"), _digest("another file")
    status, authorized = _authorize_with_pin(api, credential, [wanted])
    assert status == 200 and authorized["SAD"] and authorized["expiresIn"] == 300
    sad = authorized["SAD"]

    status, refused = api.post(
        "signatures/signHash",
        {"credentialID": credential.service_no, "SAD": sad, "hashes": [other], "signAlgo": ECDSA_SHA256},
    )
    assert (status, refused["error"]) == (400, "invalid_request")
    assert refused["error_description"].startswith("Hash is not authorized by the SAD")
    assert KeyUseAuthorization.objects.get().status == "authorized"  # not spent by the refusal

    status, signed = api.post(
        "signatures/signHash",
        {"credentialID": credential.service_no, "SAD": sad, "hashes": [wanted], "signAlgo": ECDSA_SHA256},
    )
    assert status == 200
    signature = base64.b64decode(signed["signatures"][0])
    _public_key(credential).verify(signature, base64.b64decode(wanted), ec.ECDSA(utils.Prehashed(hashes.SHA256())))

    status, replay = api.post(
        "signatures/signHash",
        {"credentialID": credential.service_no, "SAD": sad, "hashes": [wanted], "signAlgo": ECDSA_SHA256},
    )
    assert (status, replay["error"]) == (400, "invalid_request") and "used" in replay["error_description"]

    record = OperationRecord.objects.get(action="sign")
    assert (record.platform, record.address, record.purpose) == (
        credential.claim.platform,
        "127.0.0.1",
        "测试 · bid.pdf",
    )
    event = record.audit_event
    assert event.action == "operation.sign" and event.subject == f"credential:{credential.service_no}"


def test_an_authorisation_covers_a_batch_and_expires_after_five_minutes(
    claimant: tuple[Client, Api, Credential],
) -> None:
    _, api, credential = claimant
    batch = [_digest(f"file {n}") for n in range(20)]
    _, authorized = _authorize_with_pin(api, credential, batch)
    status, signed = api.post(
        "signatures/signHash",
        {"credentialID": credential.service_no, "SAD": authorized["SAD"], "hashes": batch, "signAlgo": ECDSA_SHA256},
    )
    assert status == 200 and len(signed["signatures"]) == 20

    _, late = _authorize_with_pin(api, credential, batch[:1])
    clock.set(now() + timedelta(minutes=5, seconds=1))
    status, expired = api.post(
        "signatures/signHash",
        {"credentialID": credential.service_no, "SAD": late["SAD"], "hashes": batch[:1], "signAlgo": ECDSA_SHA256},
    )
    assert (status, expired["error"]) == (400, "invalid_request")
    assert expired["error_description"].startswith("SAD expired")
    assert KeyUseAuthorization.objects.filter(status="expired").count() == 1


def test_wrong_pins_lock_the_key_for_fifteen_minutes_then_doubling(claimant: tuple[Client, Api, Credential]) -> None:
    # §7: 5 wrong in a row lock the key for 15 minutes; each further wrong doubles the lock
    _, api, credential = claimant
    digest = [_digest("x")]
    for left in (4, 3, 2, 1):
        status, wrong = _authorize_with_pin(api, credential, digest, pin="246802")
        assert (status, wrong["error"]) == (400, "invalid_authentication_data")
        assert f"再错 {left} 次" in wrong["error_description"]
    start = now()
    clock.set(start)  # the clock stands still from the fifth wrong PIN on: the lock is exactly 15 minutes
    status, locked = _authorize_with_pin(api, credential, digest, pin="246802")
    assert (status, locked["error"]) == (400, "invalid_request") and "锁定至" in locked["error_description"]
    assert locked["error_description"].startswith("Credential locked")
    credential.refresh_from_db()
    assert credential.pin_failures == 5
    assert credential.locked_until - start == timedelta(minutes=15)  # type: ignore[operator]

    status, still = _authorize_with_pin(api, credential, digest)  # even the right PIN while locked
    assert status == 400 and still["error_description"].startswith("Credential locked")
    assert not KeyUseAuthorization.objects.filter(status="authorized").exists()
    status, info = api.post("credentials/info", {"credentialID": credential.service_no})
    assert info["key"]["status"] == "disabled" and info["lockedUntil"]

    clock.set(start + timedelta(minutes=15, seconds=1))
    _authorize_with_pin(api, credential, digest, pin="246802")  # the sixth wrong PIN: 30 minutes
    credential.refresh_from_db()
    assert credential.locked_until - now() == timedelta(minutes=30)  # type: ignore[operator]
    clock.set(now() + timedelta(minutes=30, seconds=1))
    _authorize_with_pin(api, credential, digest, pin="246802")  # the seventh: 60 minutes
    credential.refresh_from_db()
    assert credential.locked_until - now() == timedelta(minutes=60)  # type: ignore[operator]
    clock.set(now() + timedelta(minutes=60, seconds=1))
    status, _ = _authorize_with_pin(api, credential, digest)
    credential.refresh_from_db()
    assert status == 200 and credential.pin_failures == 0 and credential.locked_until is None


def _ask_without_pin(api: Api, credential: Credential, digest: str) -> dict[str, Any]:
    status, pending = api.post(
        "credentials/authorize",
        {
            "credentialID": credential.service_no,
            "numSignatures": 1,
            "hashes": [digest],
            "description": "投标文件签名",
            "fileName": "投标文件.pdf",
        },
    )
    assert status == 202 and pending["handle"] and "/h5/authorizations/" in pending["authorizationURL"]
    return pending


def test_the_claimant_authorises_on_the_phone_with_the_pin(claimant: tuple[Client, Api, Credential]) -> None:
    phone, api, credential = claimant
    digest = _digest("投标文件")
    pending = _ask_without_pin(api, credential, digest)
    status, waiting = api.post("credentials/authorizeCheck", {"handle": pending["handle"]})
    assert (status, waiting["handle"]) == (202, pending["handle"]) and 0 < waiting["expiresIn"] <= 300

    listing = phone.get("/h5/authorizations/").content.decode()
    assert "投标文件.pdf" in listing
    page_path = pending["authorizationURL"].removeprefix("http://testserver")
    page = phone.get(page_path).content.decode()
    assert "投标文件.pdf" in page and credential.claim.platform in page
    # a CSC client sends hashes only: the phone shows those, grouped as the bid page groups digests, and says so
    grouped = base64.b64decode(digest).hex()
    assert " ".join(grouped[i : i + 4] for i in range(0, 64, 4)) in page
    assert "由调用方提交，不是文件本身的摘要" in page and 'id="file-digest"' not in page
    wrong = phone.post(page_path, {"pin": "246802", "decision": "approve"})
    assert wrong.status_code == 400 and "PIN 码错误" in wrong.content.decode()
    assert api.post("credentials/authorizeCheck", {"handle": pending["handle"]})[0] == 202
    assert phone.post(page_path, {"pin": PIN, "decision": "approve"}).status_code == 302
    assert "已授权" in phone.get(page_path).content.decode()

    status, authorized = api.post("credentials/authorizeCheck", {"handle": pending["handle"]})
    assert status == 200 and authorized["SAD"]
    status, again = api.post("credentials/authorizeCheck", {"handle": pending["handle"]})
    assert (status, again["error"]) == (400, "invalid_request") and "already delivered" in again["error_description"]
    status, _ = api.post(
        "signatures/signHash",
        {"credentialID": credential.service_no, "SAD": authorized["SAD"], "hashes": [digest], "signAlgo": ECDSA_SHA256},
    )
    assert status == 200


def test_a_refused_or_unanswered_request_gives_no_sad(claimant: tuple[Client, Api, Credential]) -> None:
    phone, api, credential = claimant
    refused = _ask_without_pin(api, credential, _digest("a"))
    phone.post(refused["authorizationURL"].removeprefix("http://testserver"), {"decision": "refuse"})
    status, answer = api.post("credentials/authorizeCheck", {"handle": refused["handle"]})
    assert (status, answer["error"]) == (400, "access_denied")

    unanswered = _ask_without_pin(api, credential, _digest("b"))
    clock.set(now() + timedelta(minutes=5, seconds=1))
    status, answer = api.post("credentials/authorizeCheck", {"handle": unanswered["handle"]})
    assert (status, answer["error"]) == (400, "invalid_request") and "expired" in answer["error_description"]
    page = phone.get(unanswered["authorizationURL"].removeprefix("http://testserver"))
    assert "已过期" in page.content.decode()


def test_someone_else_cannot_see_or_answer_the_request(
    claimant: tuple[Client, Api, Credential], bidder_client: Client
) -> None:
    _, api, credential = claimant
    pending = _ask_without_pin(api, credential, _digest("a"))
    stranger = Client()
    stranger_page = stranger.get(pending["authorizationURL"].removeprefix("http://testserver"))
    assert "支付宝登录" in stranger_page.content.decode()  # not signed in: asked to sign in, nothing shown
    assert "bid" not in stranger_page.content.decode()
    # a signed-in other person is told whose request it is (the masked name), nothing about the file, and can't answer
    other = Client()
    start = other.get("/h5/login/?next=/h5/authorizations/")
    back = other.post(start["Location"].removeprefix("http://testserver"), {"user_id": "2088102000000003"})
    other.get(back["Location"].removeprefix("http://testserver"))
    whose = other.get(pending["authorizationURL"].removeprefix("http://testserver"))
    text = whose.content.decode()
    assert whose.status_code == 403 and "该授权请求属于证书申领人 王*国，请由其本人在手机上授权" in text
    assert "投标文件" not in text and "王建国" not in text
    answer = other.post(
        pending["authorizationURL"].removeprefix("http://testserver"), {"pin": PIN, "decision": "approve"}
    )
    assert answer.status_code == 403 and KeyUseAuthorization.objects.get().status == "pending"
    refused = other.post(pending["authorizationURL"].removeprefix("http://testserver"), {"decision": "refuse"})
    assert refused.status_code == 403 and KeyUseAuthorization.objects.get().status == "pending"
    assert Credential.objects.get(pk=credential.pk).pin_failures == 0
    assert "暂无待授权请求" in other.get("/h5/authorizations/").content.decode()
    # an unknown reference is simply not found
    unknown = other.get("/h5/authorizations/no-such-request/")
    assert unknown.status_code == 404 and "未找到该授权请求" in unknown.content.decode()


def test_a_platform_client_never_takes_a_pin_and_sees_its_platform_only(
    claimant: tuple[Client, Api, Credential],
) -> None:
    from tests.support.oauth import platform_bearer

    _, _, credential = claimant
    key = platform_bearer(credential.claim.platform)
    platform = Api(key)
    assert platform.post("credentials/list", {})[1]["credentialIDs"] == [credential.service_no]
    status, refused = _authorize_with_pin(platform, credential, [_digest("x")])
    assert (status, refused["error"]) == (400, "invalid_request") and "never sends the PIN" in refused[
        "error_description"
    ]
    assert not KeyUseAuthorization.objects.exists()  # nothing stored
    assert _ask_without_pin(platform, credential, _digest("x"))["handle"]
    other_key = platform_bearer("另一个平台")
    assert Api(other_key).post("credentials/list", {})[1]["credentialIDs"] == []
    assert Api(other_key).post("credentials/info", {"credentialID": credential.service_no})[0] == 400


def test_an_expired_or_revoked_card_cannot_sign_and_says_why(claimant: tuple[Client, Api, Credential]) -> None:
    from cryptography.x509 import ReasonFlags

    from mobileca.ca import facade

    _, api, credential = claimant
    Credential.objects.filter(pk=credential.pk).update(expires_at=now() - timedelta(seconds=1))
    status, expired = _authorize_with_pin(api, credential, [_digest("x")])
    assert (status, expired["error"]) == (400, "invalid_request") and "到期" in expired["error_description"]
    assert expired["error_description"].startswith("Signing certificate is expired")
    Credential.objects.filter(pk=credential.pk).update(expires_at=credential.expires_at)
    facade.credential_revoke(owner_id=f"credential:{credential.service_no}", reason=ReasonFlags.key_compromise)
    status, revoked = _authorize_with_pin(api, credential, [_digest("x")])
    assert (status, revoked["error"]) == (400, "invalid_request") and "吊销" in revoked["error_description"]
    assert not KeyUseAuthorization.objects.exists()


def test_decrypt_unwraps_the_content_key_of_an_envelope_made_by_openssl(
    claimant: tuple[Client, Api, Credential], tmp_path: Path
) -> None:
    from mobileca.ca import facade

    _, api, credential = claimant
    (tmp_path / "enc.pem").write_text(facade.certificate_pem(serial_hex=credential.encrypt_serial))
    plain = b"sealed bid " * 1000
    (tmp_path / "bid").write_bytes(plain)
    sealed = _openssl("cms", "-encrypt", "-aes-256-gcm", "-binary", "-recip", str(tmp_path / "enc.pem"), "-keyopt",
                      "ecdh_kdf_md:sha256", "-outform", "DER", "-in", str(tmp_path / "bid"),
                      "-out", str(tmp_path / "bid.p7m"))  # fmt: skip
    assert sealed.returncode == 0, sealed.stderr
    envelope = (tmp_path / "bid.p7m").read_bytes()
    status, authorized = api.post(
        "credentials/authorize",
        {
            "credentialID": credential.service_no,
            "numSignatures": 1,
            "hashes": [_b64(hashlib.sha256(envelope).digest())],
            "operation": "decrypt",
            "authData": [{"id": "PIN", "value": PIN}],
        },
    )
    assert status == 200
    other = envelope[:-1] + bytes([envelope[-1] ^ 1])
    status, refused = api.post(
        "credentials/decrypt",
        {"credentialID": credential.service_no, "SAD": authorized["SAD"], "envelope": _b64(other)},
    )
    assert (status, refused["error"]) == (400, "invalid_request") and "not authorized" in refused["error_description"]
    status, opened = api.post(
        "credentials/decrypt",
        {"credentialID": credential.service_no, "SAD": authorized["SAD"], "envelope": _b64(envelope)},
    )
    assert status == 200 and opened["contentEncryptionAlgorithmOID"] == "2.16.840.1.101.3.4.1.46"
    from asn1crypto import cms

    from mobileca.cmslib.enveloped import GcmParameters

    content = cms.ContentInfo.load(envelope)["content"]
    encrypted = content["auth_encrypted_content_info"]
    nonce = GcmParameters.load(encrypted["content_encryption_algorithm"]["parameters"].dump())["nonce"].native
    key = base64.b64decode(opened["contentKey"])
    assert AESGCM(key).decrypt(nonce, encrypted["encrypted_content"].native + content["mac"].native, None) == plain
    assert OperationRecord.objects.filter(action="decrypt").count() == 1


def test_the_command_line_tool_signs_a_file_that_openssl_verifies(
    claimant: tuple[Client, Api, Credential], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mobileca.ca import facade
    from mobileca.cli import main as cli

    _, api, _credential = claimant
    token = api.headers["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    tool_in_process(monkeypatch, tmp_path / "config", token)
    assert (tmp_path / "config" / "token.json").stat().st_mode & 0o777 == 0o600
    document = tmp_path / "投标文件.pdf"
    document.write_bytes(b"%PDF-1.4 bid " * 5000)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(PIN + "\n"))
    assert cli.main(["sign", str(document), "--pin-stdin"]) == 0
    signature = tmp_path / "投标文件.pdf.p7s"
    (tmp_path / "root.pem").write_text(facade.chain_pems()[-1])
    verify = ("cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature), "-content", str(document),
              "-CAfile", str(tmp_path / "root.pem"), "-out", "/dev/null")  # fmt: skip
    verified = _openssl(*verify)
    assert verified.returncode == 0, verified.stderr
    assert "Verification successful" in verified.stderr
    document.write_bytes(document.read_bytes() + b"tampered")
    assert _openssl(*verify).returncode != 0


# --- PIN life cycle (R4.3) and operation records (R4.4) ----------------------------------------------------------


def _sms_to(phone: str) -> list[str]:
    from mobileca.sandboxes.sms.models import Message

    return list(Message.objects.filter(phone=phone).order_by("pk").values_list("text", flat=True))


def test_the_pin_is_changed_with_the_old_one_recorded_and_notified(
    claimant: tuple[Client, Api, Credential], django_capture_on_commit_callbacks: Any
) -> None:
    phone, api, credential = claimant
    path = f"/h5/credentials/{credential.service_no}/pin/change/"
    page = phone.get("/h5/credentials/").content.decode()
    assert credential.service_no in page and "修改 PIN 码" in page
    wrong = phone.post(path, {"old_pin": "246802", "pin": "975310", "pin_again": "975310"})
    assert wrong.status_code == 400 and "PIN 码错误" in wrong.content.decode()
    credential.refresh_from_db()
    assert credential.pin_failures == 1 and credential.pin_changed_at is None  # counted, nothing changed
    weak = phone.post(path, {"old_pin": PIN, "pin": "111111", "pin_again": "111111"})
    assert weak.status_code == 400 and "过于简单" in weak.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = phone.post(path, {"old_pin": PIN, "pin": "975310", "pin_again": "975310"})
    assert done.status_code == 200 and "PIN 码已修改" in done.content.decode()
    assert _authorize_with_pin(api, credential, [_digest("x")], pin=PIN)[0] == 400  # the old one is gone
    assert _authorize_with_pin(api, credential, [_digest("x")], pin="975310")[0] == 200
    assert OperationRecord.objects.filter(action="pin_change", credential=credential).count() == 1
    assert any("PIN 码已于" in text for text in _sms_to("13907980001"))
    assert "975310" not in str(list(Credential.objects.values_list()))


def test_a_forgotten_pin_is_reset_after_a_fresh_face_check(claimant: tuple[Client, Api, Credential]) -> None:
    from mobileca.shield.models import FaceCheck

    phone, api, credential = claimant
    for _ in range(5):
        _authorize_with_pin(api, credential, [_digest("x")], pin="246802")
    credential.refresh_from_db()
    assert credential.locked_until is not None
    reset = f"/h5/credentials/{credential.service_no}/pin/reset/"
    refused = phone.post(reset, {"check_id": "made-up", "pin": "975310", "pin_again": "975310"})
    assert refused.status_code == 403 and Credential.objects.get().pin_hash == credential.pin_hash

    def face(action: str) -> Any:
        to_provider = phone.post(reset)
        assert "/sandbox/liveness/check/" in to_provider["Location"]
        provider = to_provider["Location"].removeprefix("http://testserver")
        back = phone.post(provider, {"action": action})
        return phone.get(back["Location"].removeprefix("http://testserver"))

    failed = face("fail")
    assert failed.status_code == 409 and "人脸识别未通过" in failed.content.decode()
    returned = face("pass")
    assert returned.status_code == 302 and "check_id=" in returned["Location"]
    check_id = FaceCheck.objects.get(purpose="pin_reset", outcome="passed").check_id
    form = phone.get(returned["Location"]).content.decode()
    assert "人脸识别已通过" in form
    done = phone.post(reset, {"check_id": check_id, "pin": "975310", "pin_again": "975310"})
    assert done.status_code == 200 and "PIN 码已重置" in done.content.decode()
    credential.refresh_from_db()
    assert credential.locked_until is None and credential.pin_failures == 0
    assert _authorize_with_pin(api, credential, [_digest("x")], pin="975310")[0] == 200
    again = phone.post(reset, {"check_id": check_id, "pin": "864200", "pin_again": "864200"})
    assert again.status_code == 403  # a face check resets the PIN once
    assert OperationRecord.objects.filter(action="pin_reset").count() == 1


def test_records_show_the_claimants_own_and_an_admin_sees_the_members(
    claimant: tuple[Client, Api, Credential],
) -> None:
    from django.db import transaction

    from mobileca.shield.records import record_operation

    phone, api, credential = claimant
    _, authorized = _authorize_with_pin(api, credential, [_digest("x")])
    api.post(
        "signatures/signHash",
        {
            "credentialID": credential.service_no,
            "SAD": authorized["SAD"],
            "hashes": [_digest("x")],
            "signAlgo": ECDSA_SHA256,
        },
    )
    with transaction.atomic():
        record_operation(
            action="sign", account="2088102000000004", enterprise_uscc=credential.enterprise_uscc, purpose="成员的签名"
        )
        record_operation(
            action="sign", account="2088102000000009", enterprise_uscc="91360000000000000X", purpose="别家的签名"
        )
    page = phone.get("/h5/records/").content.decode()
    assert "申领开通" in page and "签名" in page and "127.0.0.1" in page and credential.claim.platform in page
    assert "成员的签名" in page  # 王建国 administers his enterprise: its members' records too
    assert "别家的签名" not in page


def test_platform_credentials_are_created_by_a_command_and_shown_once(db: None) -> None:
    import io

    from django.core.management import call_command

    from mobileca.shield.models import ApiClient

    out = io.StringIO()
    call_command("csc_client_create", "--platform", "测试平台", stdout=out)
    client_id = re.search(r"client_id:\s+(pl_\S+)", out.getvalue()).group(1)  # type: ignore[union-attr]
    secret = re.search(r"client_secret:\s+(mcp_\S+)", out.getvalue()).group(1)  # type: ignore[union-attr]
    assert secret not in str(list(ApiClient.objects.values_list()))
    assert Api(secret).post("credentials/list", {})[0] == 401  # the secret is no bearer token
    token = Client().post(
        "/csc/v2/oauth2/token",
        f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}",
        content_type="application/x-www-form-urlencoded",
    )
    assert token.status_code == 200, token.content
    assert Api(token.json()["access_token"]).post("credentials/list", {})[1] == {"credentialIDs": []}


def test_an_allowed_device_login_expires_with_its_code(claimant: tuple[Client, Api, Credential]) -> None:
    phone, _, _ = claimant
    api = Api()
    _, start = api.post("oauth2/device", {})
    phone.post("/h5/device/", {"user_code": start["user_code"], "decision": "allow"})
    clock.set(now() + timedelta(minutes=11))
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": start["device_code"]}
    assert api.post("oauth2/token", grant)[1]["error"] == "expired_token"


# --- key profiles: per credential, nothing else hard-codes an algorithm (issue 13) ---------------------------------

ECDSA_SHA256, RSA_SHA256 = "1.2.840.10045.4.3.2", "1.2.840.113549.1.1.11"


def test_info_advertises_only_the_algorithms_of_issued_key_profiles(claimant: tuple[Client, Api, Credential]) -> None:
    # the default profile (EC P-256) is what every credential here has: RSA, which nothing issued, is not offered
    _, api, credential = claimant
    assert credential.key_profile == "ec-p256"
    assert Api().post("info", {})[1]["signAlgorithms"] == {"algos": [ECDSA_SHA256]}
    key = api.post("credentials/info", {"credentialID": credential.service_no})[1]["key"]
    assert (key["algo"], key["len"], key["curve"]) == ([ECDSA_SHA256], 256, "1.2.840.10045.3.1.7")


def test_an_rsa_profile_credential_signs_with_rsa_only(registered: Card, ca_ready: None) -> None:
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from mobileca.ca import facade
    from mobileca.shield import facade as shield

    credential = activated_credential(registered, key_profile="rsa-2048")
    assert shield.credential_certificates(service_no=credential.service_no).key_profile == "rsa-2048"
    api = Api(_device_login(phone_login(LEGAL_REP)))
    key = api.post("credentials/info", {"credentialID": credential.service_no})[1]["key"]
    assert (key["algo"], key["len"]) == ([RSA_SHA256], 2048) and "curve" not in key
    assert set(Api().post("info", {})[1]["signAlgorithms"]["algos"]) == {ECDSA_SHA256, RSA_SHA256}
    digest = _digest("标书")
    _, authorized = _authorize_with_pin(api, credential, [digest])
    body = {"credentialID": credential.service_no, "SAD": authorized["SAD"], "hashes": [digest]}
    status, refused = api.post("signatures/signHash", {**body, "signAlgo": ECDSA_SHA256})
    assert (status, refused["error"]) == (400, "invalid_request")
    assert KeyUseAuthorization.objects.get().status == "authorized"  # a refused algorithm does not spend the SAD
    status, signed = api.post("signatures/signHash", {**body, "signAlgo": RSA_SHA256})
    assert status == 200
    certificate = x509.load_pem_x509_certificate(facade.certificate_pem(serial_hex=credential.sign_serial).encode())
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(
        base64.b64decode(signed["signatures"][0]),
        base64.b64decode(digest),
        padding.PKCS1v15(),
        utils.Prehashed(hashes.SHA256()),
    )
