"""Operation records (R4.4): what was done with a credential — key use, PIN changes, claim, renewal, member
changes — with time, platform, purpose and network address; each one also an event in the audit log, a leaf of
its transparency tree once sequenced.
The claimant sees their own; an enterprise's admin sees its members'."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from mobileca.audit.services import Actor, audit_record
from mobileca.shield.models import Credential, OperationRecord, PhoneAccount, ShieldEnterprise


def record_operation(
    *,
    action: str,
    account: str,
    enterprise_uscc: str,
    credential: Credential | None = None,
    platform: str = "",
    purpose: str = "",
    address: str | None = None,
    data: dict[str, object] | None = None,
) -> OperationRecord:
    """One operation record, and the same fact in the audit log (inside the caller's transaction)."""
    event = audit_record(
        action=f"operation.{action}",
        subject=f"credential:{credential.service_no}" if credential else f"phone:{account}",
        actor=Actor("phone", account),
        data={"platform": platform, "purpose": purpose, "address": address, **(data or {})},
    )
    return OperationRecord.objects.create(
        credential=credential,
        account=account,
        enterprise_uscc=enterprise_uscc,
        action=action,
        platform=platform[:64],
        purpose=purpose[:200],
        address=address,
        audit_event=event,
        created_at=event.occurred_at,
    )


@dataclass(frozen=True)
class RecordRow:
    record: OperationRecord
    person: str
    own: bool


def records_for(account: str, *, limit: int = 200) -> list[RecordRow]:
    """The claimant's own records, and an admin's over the members of the enterprises they administer."""
    administered = list(ShieldEnterprise.objects.filter(admin_account=account).values_list("uscc", flat=True))
    rows = (
        OperationRecord.objects.filter(Q(account=account) | Q(enterprise_uscc__in=administered))
        .select_related("credential")
        .order_by("-created_at", "-pk")[:limit]
    )
    names = dict(PhoneAccount.objects.filter(account__in={row.account for row in rows}).values_list("account", "name"))
    return [RecordRow(record=row, person=names.get(row.account, ""), own=row.account == account) for row in rows]
