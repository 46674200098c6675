"""The signing service's lock order on PostgreSQL (issue 13): writers that meet on an enterprise and its claims take
their row locks in the one order of ``shield/locks.py``, so they wait for each other instead of deadlocking."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from mobileca.accounts.models import User
from mobileca.audit.services import audit_chain_verify
from mobileca.ca.models import IssuedCertificate
from mobileca.ca.services import ca_init
from mobileca.core.errors import ApplicationError
from mobileca.shield.claims import claim_activate
from mobileca.shield.members import member_remove
from mobileca.shield.models import ClaimSession, Credential, Membership
from tests.races import race
from tests.support.shield import LEGAL_REP, PIN, claim_at_pin, member_claim_at_pin, paid_card, register_enterprise

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EMPLOYEE = "2088102000000004"  # 刘晓梅


def _tagged(works: dict[str, Callable[[], object]]) -> tuple[Callable[[], object], dict[str, object]]:
    """One work per thread, each result (or exception) kept under its name."""
    queue, results, lock = list(works.items()), {}, threading.Lock()

    def run() -> object:
        with lock:
            name, work = queue.pop()
        try:
            results[name] = work()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[name] = exc
        return results[name]

    return run, results


@pytest.mark.parametrize("attempt", range(3))
def test_removing_a_member_racing_their_pin_never_deadlocks_one_wins_the_other_is_refused(
    bidder: User, finance: User, attempt: int
) -> None:
    # given: the enterprise's admin (its legal representative) and an approved employee whose claim is at the PIN
    ca_init()
    first = paid_card(bidder, finance, "tok-admin")
    register_enterprise(first)
    claim_at_pin(first, LEGAL_REP)
    claim, membership = member_claim_at_pin(paid_card(bidder, finance, "tok-employee"), EMPLOYEE, admin=LEGAL_REP)

    # when: the admin removes the employee while the employee sets the PIN
    run, results = _tagged(
        {
            "remove": lambda: member_remove(admin_account=LEGAL_REP, membership_id=membership.pk),
            "pin": lambda: claim_activate(ticket=claim.ticket, account=EMPLOYEE, pin=PIN, pin_again=PIN),
        }
    )
    race(run)

    # then: no deadlock and no internal error — the removal always stands ...
    assert isinstance(results["remove"], Membership), results
    assert Membership.objects.get(pk=membership.pk).status == "removed"
    claim.refresh_from_db()
    if isinstance(results["pin"], ApplicationError):
        # ... the removal came first: the PIN is refused with a clear reason, and no key or certificate was made
        refused = results["pin"]
        assert (refused.code, refused.status) in {("wrong_step", 409), ("not_member", 403)}, refused
        assert refused.message in ("申领步骤已变化，请刷新页面", "您不是该企业的成员，请等待管理员审批")
        assert (claim.status, claim.step) == ("bound", "approval")
        assert not Credential.objects.filter(account=EMPLOYEE).exists()
    else:
        # ... or the PIN came first: the card activated, and the removal then revoked its certificates
        assert isinstance(results["pin"], Credential), results
        assert (claim.status, claim.step) == ("activated", "done")
        owned = IssuedCertificate.objects.filter(owner_id=f"credential:{results['pin'].service_no}")
        assert set(owned.values_list("status", "revocation_reason")) == {("revoked", "affiliation_changed")}
    assert ClaimSession.objects.filter(claimant_account=EMPLOYEE).count() == 1
    assert audit_chain_verify().ok
