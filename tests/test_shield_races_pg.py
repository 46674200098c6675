"""The signing service's lock order on PostgreSQL (issue 13): writers that meet on an enterprise and its claims take
their row locks in the one order of ``shield/locks.py``, so they wait for each other instead of deadlocking."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mobileca.accounts.models import User
from mobileca.ca.models import IssuedCertificate
from mobileca.ca.services import ca_init
from mobileca.core.errors import ApplicationError
from mobileca.shield import locks, members
from mobileca.shield.claims import claim_activate
from mobileca.shield.members import member_remove
from mobileca.shield.models import ClaimSession, Credential, Membership, ShieldEnterprise
from tests.races import Holder, in_thread, wait_until_a_backend_waits_for_a_lock
from tests.support.audit import log_intact
from tests.support.shield import LEGAL_REP, PIN, claim_at_pin, member_claim_at_pin, paid_card, register_enterprise

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EMPLOYEE = "2088102000000004"  # 刘晓梅

# Where each side takes the enterprise, the first lock of the order: the admin's member writes through
# ``members.lock_enterprise``, a claim step through ``locks.lock_claim`` (which calls ``locks.lock_enterprise``).
ENTERPRISE_LOCK_OF = {"remove": members, "pin": locks}


@pytest.mark.parametrize("first", ["remove", "pin"])
def test_removing_a_member_racing_their_pin_never_deadlocks_one_wins_the_other_is_refused(
    bidder: User, finance: User, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    # given: the enterprise's admin (its legal representative) and an approved employee whose claim is at the PIN
    ca_init()
    first_card = paid_card(bidder, finance, "tok-admin")
    register_enterprise(first_card)
    claim_at_pin(first_card, LEGAL_REP)
    claim, membership = member_claim_at_pin(paid_card(bidder, finance, "tok-employee"), EMPLOYEE, admin=LEGAL_REP)
    works: dict[str, Callable[[], object]] = {
        "remove": lambda: member_remove(admin_account=LEGAL_REP, membership_id=membership.pk),
        "pin": lambda: claim_activate(ticket=claim.ticket, account=EMPLOYEE, pin=PIN, pin_again=PIN),
    }
    second = "pin" if first == "remove" else "remove"

    # when: the admin removes the employee while the employee sets the PIN. The side going first stops inside its
    # transaction just after it locked the enterprise; the other starts and must come to wait for that very lock,
    # holding nothing yet (a side that locked the claim or the membership before the enterprise would deadlock with
    # the first as soon as it goes on); then the first goes on.
    module = ENTERPRISE_LOCK_OF[first]
    holder = Holder(module.lock_enterprise)
    monkeypatch.setattr(module, "lock_enterprise", holder)
    results: dict[str, object] = {}
    threads = [in_thread(works[first], results, first)]
    try:
        assert holder.holding.wait(timeout=30), results
        threads.append(in_thread(works[second], results, second))
        wait_until_a_backend_waits_for_a_lock(on_table=ShieldEnterprise._meta.db_table)
    finally:
        holder.release.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), f"a side is still waiting: {results}"

    # then: no deadlock and no internal error — the removal always stands ...
    assert isinstance(results["remove"], Membership), results
    assert Membership.objects.get(pk=membership.pk).status == "removed"
    claim.refresh_from_db()
    if first == "remove":
        # ... the removal came first: the PIN is refused with a clear reason, and no key or certificate was made
        refused = results["pin"]
        assert isinstance(refused, ApplicationError), results
        assert (refused.code, refused.status) == ("wrong_step", 409), refused
        assert refused.message == "申领步骤已变化，请刷新页面"
        assert (claim.status, claim.step) == ("bound", "approval")
        assert not Credential.objects.filter(account=EMPLOYEE).exists()
    else:
        # ... or the PIN came first: the card activated, and the removal then revoked its certificates
        assert isinstance(results["pin"], Credential), results
        assert (claim.status, claim.step) == ("activated", "done")
        owned = IssuedCertificate.objects.filter(owner_id=f"credential:{results['pin'].service_no}")
        assert set(owned.values_list("status", "revocation_reason")) == {("revoked", "affiliation_changed")}
    assert ClaimSession.objects.filter(claimant_account=EMPLOYEE).count() == 1
    assert log_intact()
