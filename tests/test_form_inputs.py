"""Issue 14: the forms of the physical CA (application, review, dispatch) and the browser bid upload answer hostile
input (NUL, over-long text, huge numbers, other digits, a file past the largest bid) with a clear message, never a
500, and store nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.bidding.models import Bid
from mobileca.cards.models import Card
from mobileca.core.clock import now
from mobileca.core.errors import InvalidInput
from mobileca.notices.models import Notice
from mobileca.physical import services
from mobileca.physical.models import Application, Shipment
from tests.support.bidding import tender_open_for_bids
from tests.support.physical import application_form, reviewer, reviewer_user  # noqa: F401 (fixtures)
from tests.support.shield import activated_credential, ca_ready, card, registered  # noqa: F401 (fixtures)


def _stored() -> tuple[int, int, int]:
    return Application.objects.count(), AuditEvent.objects.count(), Notice.objects.count()


@pytest.mark.parametrize(
    "field, value",
    [
        ("address", "址" * 301),
        ("enterprise_name", "名" * 201),
        ("legal_representative", "王" * 51),
        ("contact_name", "李" * 51),
        ("uscc", "9" * 5000),
        ("key_count", "9" * 5000),
        ("key_count", "1e400"),
        ("key_count", "21"),
        ("key_count", "0"),
        ("key_count", "-1"),
        ("key_count", "٣"),
        ("key_count", "²"),
        ("contact_phone", "٠١٣٩٠٧٩٨٠٠٠٩"),
        ("contact_phone", "1" * 5000),
        ("contact_phone", "13907980009\u200b"),
    ],
)
def test_a_bad_application_field_is_a_clear_400_and_nothing_is_stored(
    bidder: User, bidder_client: Client, field: str, value: str
) -> None:
    before = _stored()
    answer = bidder_client.post("/ca/physical/apply/", application_form(bidder, **{field: value}))
    assert answer.status_code == 400, answer.content.decode()[:300]
    assert 'role="alert"' in answer.content.decode()
    assert _stored() == before


@pytest.mark.parametrize("field", ["address", "contact_name", "legal_representative", "key_count", "contact_phone"])
def test_a_nul_in_the_application_is_refused_before_the_view(bidder: User, bidder_client: Client, field: str) -> None:
    before = _stored()
    assert bidder_client.post("/ca/physical/apply/", application_form(bidder, **{field: "1\x00"})).status_code == 400
    assert _stored() == before


def test_the_service_refuses_a_nul_for_any_other_caller(bidder: User) -> None:
    fields = {
        key: str(value) for key, value in application_form(bidder, address="瓷都大道\x00").items() if key != "licence"
    }
    with pytest.raises(InvalidInput):
        services.application_submit(enterprise=bidder.enterprise, user=bidder, fields=fields, licence=None)  # type: ignore[arg-type]
    assert not Application.objects.exists()


def test_full_width_phone_and_count_digits_are_read_as_ascii(bidder: User, bidder_client: Client) -> None:
    form = application_form(bidder, contact_phone="１３９０７９８０００９", key_count="３")
    assert bidder_client.post("/ca/physical/apply/", form).status_code == 302
    application = Application.objects.get()
    assert (application.contact_phone, application.key_count) == ("13907980009", 3)


@pytest.mark.parametrize("reason", ["\x00", "退回\x00", "因" * 201, "   "])
def test_a_bad_reject_reason_is_a_clear_refusal_and_changes_nothing(
    bidder: User, bidder_client: Client, reviewer: Client, reviewer_user: User, reason: str
) -> None:
    """Issue 14: a reject reason "\\0" was stored on SQLite and a 500 on PostgreSQL."""
    assert bidder_client.post("/ca/physical/apply/", application_form(bidder)).status_code == 302
    application = Application.objects.get()
    before = _stored()
    answer = reviewer.post(f"/backoffice/physical/{application.pk}/", {"decision": "return", "reason": reason})
    assert answer.status_code == 400
    assert _stored() == before
    application.refresh_from_db()
    assert (application.status, application.reason) == ("submitted", "")
    with pytest.raises(InvalidInput):
        services.application_return(application_id=application.pk, reviewer=reviewer_user, reason=reason)


@pytest.mark.parametrize(
    "courier, tracking_no",
    [
        ("顺丰" * 26, "SF1234567890"),
        ("顺丰\x00", "SF1234567890"),
        ("顺丰", "SF\x001234567"),
        ("顺丰", "１２３４５６７"),
        ("", "SF1"),
    ],
)
def test_a_bad_dispatch_is_a_clear_refusal_and_changes_nothing(
    bidder: User, reviewer: Client, courier: str, tracking_no: str
) -> None:
    shipment = Shipment.objects.create(
        order_no="P202612030001",
        enterprise=bidder.enterprise,
        address="瓷都大道 1 号",
        contact_name="李经办",
        contact_phone="13907980009",
        created_at=now(),
    )
    before = _stored()
    answer = reviewer.post(
        f"/backoffice/physical/shipments/{shipment.pk}/dispatch/", {"courier": courier, "tracking_no": tracking_no}
    )
    assert answer.status_code == 400
    assert _stored() == before
    shipment.refresh_from_db()
    assert shipment.dispatched_at is None and shipment.courier == "" and shipment.tracking_no == ""


@pytest.mark.parametrize(
    "path", ["/backoffice/physical/99999999999999999999/", "/ca/physical/shipments/99999999999999999999/cancel/"]
)
def test_an_id_past_any_integer_column_is_a_404(bidder_client: Client, reviewer: Client, path: str) -> None:
    client = reviewer if path.startswith("/backoffice") else bidder_client
    assert client.post(path, {"decision": "approve"}).status_code == 404


# --- the browser bid upload --------------------------------------------------------------------------------------


@pytest.fixture
def claimed(bidder_client: Client, registered: Card, ca_ready: None, settings: Any, tmp_path: Any) -> Card:
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    activated_credential(registered)
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
    registered.refresh_from_db()
    return registered


def test_a_browser_upload_past_the_largest_bid_is_a_413_with_a_message(
    bidder_client: Client, claimed: Card, settings: Any, tmp_path: Any
) -> None:
    settings.MOBILECA_BID_MAX_BYTES = 10_000
    tender = tender_open_for_bids()
    answer = bidder_client.post(
        f"/bidding/tenders/{tender.url_key}/upload/?card={claimed.cert_id}",
        {"bid_file": SimpleUploadedFile("投标文件.pdf", b"x" * 10_001)},
    )
    assert answer.status_code == 413
    assert "投标文件过大" in answer.content.decode()
    assert not Bid.objects.exists() and not list((tmp_path / "private").rglob("*.bin"))


def test_a_control_character_in_the_uploaded_file_name_is_not_stored(bidder_client: Client, claimed: Card) -> None:
    tender = tender_open_for_bids()
    answer = bidder_client.post(
        f"/bidding/tenders/{tender.url_key}/upload/?card={claimed.cert_id}",
        {"bid_file": SimpleUploadedFile("投标\x00文件\x07.pdf", b"bid")},
    )
    assert answer.status_code == 302, answer.content.decode()[:500]
    assert Bid.objects.get().file_name == "投标文件.pdf"
