"""Secrets never on a page (issue 14): PINs and one-time codes typed with full-width digits are the same PIN or code,
any other digit of Unicode is refused with a message and changes nothing; a failure with debug on shows Django's
debug page with every PIN, SAD and key starred; an anonymous look at the phone login writes no session."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from argon2 import PasswordHasher
from django.contrib.sessions.models import Session
from django.test import Client

from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.shield.models import ClaimSession, Credential, FaceCheck, OperationRecord, SmsChallenge
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    Api,
    _device_login,
    activated_credential,
    ca_ready,
    card,
    claim_at_pin,
    claim_past_face,
    phone_login,
    registered,
)

PIN = "135790"
NEW = "192837"
FULL_WIDTH_NEW = "１９２８３７"
ARABIC_INDIC_NEW = "١٩٢٨٣٧"  # digits to Python's isdigit(), not to a PIN pad
SUPERSCRIPT_NEW = "¹⁹²⁸³⁷"
STARS = "********************"  # Django's cleansed substitute


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _stored(credential: Credential) -> tuple[Any, ...]:
    credential.refresh_from_db()
    return (credential.pin_hash, credential.pin_failures, credential.locked_until, credential.pin_changed_at)


def _counts() -> tuple[int, int]:
    return OperationRecord.objects.count(), AuditEvent.objects.count()


@pytest.fixture
def claimant(registered: Card, ca_ready: None) -> tuple[Client, Credential]:
    return phone_login(LEGAL_REP), activated_credential(registered, pin=PIN)


def _authorize(api: Api, credential: Credential, pin: str) -> tuple[int, Any]:
    return api.post(
        "credentials/authorize",
        {
            "credentialID": credential.service_no,
            "numSignatures": 1,
            "hashes": [_digest("x")],
            "authData": [{"id": "PIN", "value": pin}],
        },
    )


# --- item 1: full-width digits are the same PIN; other digits refused, nothing changed -----------------------------


def test_the_reproducer_a_full_width_repeat_of_the_new_pin_changes_it_instead_of_a_500(
    claimant: tuple[Client, Credential],
) -> None:
    """Issue 14: old_pin right, pin=192837, pin_again=１９２８３７ answered 500 (TypeError in compare_digest)."""
    phone, credential = claimant
    answer = phone.post(
        f"/h5/credentials/{credential.service_no}/pin/change/",
        {"old_pin": PIN, "pin": NEW, "pin_again": FULL_WIDTH_NEW},
    )
    assert answer.status_code == 200 and "PIN 码已修改" in answer.content.decode()
    assert PasswordHasher().verify(Credential.objects.get().pin_hash, NEW)  # stored as the ASCII PIN
    again = phone.post(  # and the old PIN may be typed full-width too
        f"/h5/credentials/{credential.service_no}/pin/change/",
        {"old_pin": FULL_WIDTH_NEW, "pin": "246813", "pin_again": "２４６８１３"},
    )
    assert again.status_code == 200 and PasswordHasher().verify(Credential.objects.get().pin_hash, "246813")


@pytest.mark.parametrize("other", [ARABIC_INDIC_NEW, SUPERSCRIPT_NEW])
@pytest.mark.parametrize("field", ["old_pin", "pin", "pin_again"])
def test_pin_change_refuses_other_digits_with_a_message_and_changes_nothing(
    claimant: tuple[Client, Credential], field: str, other: str
) -> None:
    """Not counted as a wrong PIN: a PIN that is not six 0–9 digits can never be right, so it tells nobody anything
    and costs the claimant no try."""
    phone, credential = claimant
    before, counts = _stored(credential), _counts()
    form = {"old_pin": PIN, "pin": NEW, "pin_again": NEW} | {field: other}
    answer = phone.post(f"/h5/credentials/{credential.service_no}/pin/change/", form)
    assert answer.status_code == 400 and "PIN 码须为 6 位数字（0–9）" in answer.content.decode()
    assert _stored(credential) == before and _counts() == counts


def test_a_forgotten_pin_is_reset_with_full_width_digits_and_other_digits_change_nothing(
    claimant: tuple[Client, Credential],
) -> None:
    phone, credential = claimant
    reset = f"/h5/credentials/{credential.service_no}/pin/reset/"
    to_provider = phone.post(reset)
    provider = to_provider["Location"].removeprefix("http://testserver")
    back = phone.post(provider, {"action": "pass"})
    assert phone.get(back["Location"].removeprefix("http://testserver")).status_code == 302
    check = FaceCheck.objects.get(purpose="pin_reset", outcome="passed")
    before, counts = _stored(credential), _counts()
    for other in (ARABIC_INDIC_NEW, SUPERSCRIPT_NEW):
        refused = phone.post(reset, {"check_id": check.check_id, "pin": other, "pin_again": other})
        assert refused.status_code == 400 and "PIN 码须为 6 位数字（0–9）" in refused.content.decode()
        assert _stored(credential) == before and _counts() == counts
        check.refresh_from_db()
        assert check.consumed_at is None  # the face check is still good for the PIN
    done = phone.post(reset, {"check_id": check.check_id, "pin": FULL_WIDTH_NEW, "pin_again": NEW})
    assert done.status_code == 200 and "PIN 码已重置" in done.content.decode()
    assert PasswordHasher().verify(Credential.objects.get().pin_hash, NEW)


def test_activation_reads_a_full_width_pin_and_refuses_other_digits(registered: Card, ca_ready: None) -> None:
    claim = claim_at_pin(registered)
    phone = phone_login(LEGAL_REP)
    for pin, again in [(NEW, ARABIC_INDIC_NEW), (SUPERSCRIPT_NEW, SUPERSCRIPT_NEW), (ARABIC_INDIC_NEW, NEW)]:
        refused = phone.post(f"/h5/claim/{claim.ticket}/pin/", {"pin": pin, "pin_again": again})
        assert refused.status_code == 400 and "PIN 码须为 6 位数字（0–9）" in refused.content.decode()
    assert not Credential.objects.exists() and ClaimSession.objects.get().step == "pin"
    done = phone.post(f"/h5/claim/{claim.ticket}/pin/", {"pin": NEW, "pin_again": FULL_WIDTH_NEW})
    assert done.status_code == 302 and ClaimSession.objects.get().status == "activated"
    assert PasswordHasher().verify(Credential.objects.get().pin_hash, NEW)


def test_the_remote_signing_api_reads_a_full_width_pin_and_does_not_count_other_digits(
    claimant: tuple[Client, Credential],
) -> None:
    phone, credential = claimant
    api = Api(_device_login(phone))
    before = _stored(credential)
    for other in ("١٣٥٧٩٠", "¹³⁵⁷⁹⁰"):
        status, refused = _authorize(api, credential, other)
        assert (status, refused["error"]) == (400, "invalid_authentication_data")  # CSC's code (issue 17)
        assert _stored(credential) == before  # not counted
    status, authorized = _authorize(api, credential, "１３５７９０")
    assert status == 200 and authorized["SAD"]


def _latest_code() -> str:
    from mobileca.sandboxes.sms.models import Message

    text = Message.objects.filter(phone="13907980001").order_by("-sent_at", "-pk").first().text  # type: ignore[union-attr]
    found = re.search(r"验证码为 (\d{6})", text)
    assert found, text
    return found.group(1)


def test_the_sms_code_is_read_full_width_and_other_digits_are_refused_uncounted(
    registered: Card, ca_ready: None, django_capture_on_commit_callbacks: Any
) -> None:
    claim = claim_past_face(registered, LEGAL_REP)
    phone = phone_login(LEGAL_REP)
    with django_capture_on_commit_callbacks(execute=True):
        assert phone.post(f"/h5/claim/{claim.ticket}/sms/send/", {"phone": "13907980001"}).status_code == 302
    code = _latest_code()
    for other in (code.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")), "¹²³⁴⁵⁶"):
        refused = phone.post(f"/h5/claim/{claim.ticket}/sms/verify/", {"code": other})
        assert refused.status_code == 400 and "验证码须为 6 位数字（0–9）" in refused.content.decode()
    challenge = SmsChallenge.objects.get()
    assert challenge.attempts == 0 and challenge.verified_at is None  # not counted, nothing changed
    assert ClaimSession.objects.get().step == "enterprise_verify"
    full_width = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert phone.post(f"/h5/claim/{claim.ticket}/sms/verify/", {"code": full_width}).status_code == 302
    assert ClaimSession.objects.get().step == "pin"


# --- item 2: a failure with debug on shows no secret ---------------------------------------------------------------


def _explode(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("something inside broke")


def _debug_page(answer: Any) -> str:
    page = answer.content.decode()
    assert answer.status_code == 500
    assert "RuntimeError" in page and "Traceback" in page and "Local vars" in page  # Django's technical 500 page
    return page


def test_a_failure_in_the_pin_change_with_debug_on_shows_no_pin(
    claimant: tuple[Client, Credential], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: the debug page showed both PINs among the frames' local variables."""
    phone, credential = claimant
    settings.DEBUG = True
    phone.raise_request_exception = False

    def hash_exploding(self: PasswordHasher, password: str, *, salt: bytes | None = None) -> str:
        raise RuntimeError(f"something inside broke ({len(password)} characters)")  # its frame holds the PIN

    monkeypatch.setattr(PasswordHasher, "hash", hash_exploding)
    before = _stored(credential)
    answer = phone.post(
        f"/h5/credentials/{credential.service_no}/pin/change/",
        {"old_pin": PIN, "pin": NEW, "pin_again": FULL_WIDTH_NEW},
    )
    page = _debug_page(answer)
    for secret in (PIN, NEW, FULL_WIDTH_NEW):
        assert secret not in page, secret
    assert STARS in page
    assert _stored(credential) == before


def test_a_failure_at_activation_with_debug_on_shows_no_pin_nor_key(
    registered: Card, ca_ready: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mobileca.ca import facade as ca_facade

    claim = claim_at_pin(registered)
    phone = phone_login(LEGAL_REP)
    settings.DEBUG = True
    phone.raise_request_exception = False
    monkeypatch.setattr(ca_facade, "wrap_private_key", _explode)  # the keys are made, about to be wrapped
    answer = phone.post(f"/h5/claim/{claim.ticket}/pin/", {"pin": NEW, "pin_again": FULL_WIDTH_NEW})
    page = _debug_page(answer)
    assert NEW not in page and FULL_WIDTH_NEW not in page and STARS in page
    assert "PRIVATE KEY" not in page and "EllipticCurvePrivateKey" not in page
    assert not Credential.objects.exists()


def test_a_failure_in_the_api_with_a_pin_or_a_sad_and_debug_on_shows_neither(
    claimant: tuple[Client, Credential], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mobileca.ca import facade as ca_facade

    phone, credential = claimant
    api = Api(_device_login(phone))
    status, authorized = _authorize(api, credential, PIN)
    assert status == 200
    sad = authorized["SAD"]
    settings.DEBUG = True
    api.client.raise_request_exception = False
    monkeypatch.setattr(ca_facade, "unwrap_private_key", _explode)
    answer = api.client.post(
        "/csc/v2/signatures/signHash",
        {
            "credentialID": credential.service_no,
            "SAD": sad,
            "hashes": [_digest("x")],
            "signAlgo": "1.2.840.10045.4.3.2",
        },
        content_type="application/json",
        **api.headers,
    )
    page = _debug_page(answer)
    token = api.headers["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    assert sad not in page and token not in page and STARS in page

    monkeypatch.setattr(PasswordHasher, "verify", _explode)  # the PIN's check breaks
    answer = api.client.post(
        "/csc/v2/credentials/authorize",
        {
            "credentialID": credential.service_no,
            "numSignatures": 1,
            "hashes": [_digest("y")],
            "authData": [{"id": "PIN", "value": "１３５７９０"}],
        },
        content_type="application/json",
        **api.headers,
    )
    page = _debug_page(answer)
    assert PIN not in page and "１３５７９０" not in page and STARS in page


def test_a_failure_in_the_api_with_debug_off_is_a_500_in_the_apis_shape(
    claimant: tuple[Client, Credential], monkeypatch: pytest.MonkeyPatch
) -> None:
    phone, credential = claimant
    api = Api(_device_login(phone))
    monkeypatch.setattr(PasswordHasher, "verify", _explode)
    api.client.raise_request_exception = False
    status, answer = _authorize(api, credential, PIN)
    assert (status, answer["error"]) == (500, "server_error") and PIN not in str(answer)


# --- item 3: an anonymous look at the phone login writes no session -----------------------------------------------


@pytest.mark.django_db
def test_anonymous_logins_started_write_no_session_rows() -> None:
    """Issue 14: each anonymous GET /h5/login/ created a session row."""
    for _ in range(50):
        answer = Client().get("/h5/login/?next=/h5/credentials/")
        assert answer.status_code == 302 and "/sandbox/identity/authorize?" in answer["Location"]
    assert Session.objects.count() == 0


@pytest.mark.django_db
def test_a_login_cookie_that_was_tampered_with_or_replayed_is_refused() -> None:
    phone = Client()
    phone.get("/h5/login/")
    cookie = phone.cookies["shield_login"].value
    phone.cookies["shield_login"] = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    assert phone.get("/h5/auth/callback/?auth_code=x&state=y").status_code == 400
    assert Session.objects.count() == 0


def test_authorisations_left_to_the_phone_are_limited_per_caller_and_credential(
    claimant: tuple[Client, Credential], settings
) -> None:
    """Issue 14 follow-up: without a PIN every credentials/authorize made a pending row and a phone notice."""
    from mobileca.shield.models import KeyUseAuthorization

    phone, credential = claimant
    settings.MOBILECA_RATE_LIMITS = {"csc_authorize_pending": "2/h"}
    api = Api(_device_login(phone))
    ask = {"credentialID": credential.service_no, "numSignatures": 1, "hashes": [_digest("x")]}
    assert [api.post("credentials/authorize", ask)[0] for _ in range(2)] == [202, 202]
    status, refused = api.post("credentials/authorize", ask)
    assert (status, refused["error"]) == (429, "rate_limited") and KeyUseAuthorization.objects.count() == 2
    assert _authorize(api, credential, PIN)[0] == 200  # the claimant's own PIN in the request is not held back
