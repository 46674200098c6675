"""Two-party SM2 rounds are spent under their row lock on PostgreSQL (issue 20, R4.5): two ``sign_round`` calls with
the same session at once give exactly one answer; the other waits for the lock, then finds the round used."""

from __future__ import annotations

import pytest

from mobileca.ca.services import ca_init
from mobileca.cards.models import Card
from mobileca.shield import cosign
from mobileca.shield.models import CosignRound, OperationRecord
from tests.races import Holder, in_thread, wait_until_a_backend_waits_for_a_lock
from tests.support.cosign import expect_ok, post, sign_request, split_credential
from tests.support.shield import LEGAL_REP, PIN, card, registered  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_sign_rounds_with_one_session_at_once_give_exactly_one_answer(
    registered: Card, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: the first call stops inside its transaction just after it spent the round under the row lock; the
    second is seen waiting for that lock; then the first goes on. One answer ``{"r", "s2", "s3"}``, one
    ``round_used`` refusal, the round answered once."""
    ca_init()
    credential, phone = split_credential(registered)
    share = phone.shares["sign"]
    ref, _ = sign_request(credential, [share.digest(b"raced")])
    (item,) = expect_ok(post(phone.client, "approve", {"authorization": ref, "pin": PIN}))["rounds"]
    message, pending = share.sign_message(bytes.fromhex(item["e"]), item["session"])

    holder = Holder(cosign._spend)
    monkeypatch.setattr(cosign, "_spend", holder)

    def work() -> object:
        return cosign.sign_round(session=item["session"], message=message, account=LEGAL_REP)

    results: dict[str, object] = {}
    threads = [in_thread(work, results, "first")]
    try:
        assert holder.holding.wait(timeout=30), results
        threads.append(in_thread(work, results, "second"))
        wait_until_a_backend_waits_for_a_lock(on_table=CosignRound._meta.db_table)
    finally:
        holder.release.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), results

    first, second = results["first"], results["second"]
    assert isinstance(first, dict) and set(first) == {"r", "s2", "s3"}, results
    assert isinstance(second, cosign.RoundRefused) and second.code == "round_used", results
    assert CosignRound.objects.get(session=item["session"]).outcome == "answered"
    assert not OperationRecord.objects.filter(action="sign_failed").exists()
    # the one answer finishes into a valid signature under P
    assert share.public_key.verify_digest(share.sign_finish(pending, first), share.digest(b"raced"))
