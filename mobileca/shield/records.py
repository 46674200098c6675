"""Operation records (R4.4): what was done with a credential — key use, PIN changes, wrong PINs and lock-outs,
claim, renewal, member changes — with time, platform, purpose and network address; each one also an event in the
audit log, a leaf of its transparency tree once sequenced.
The claimant sees their own; an enterprise's admin sees its members'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.db.models import Q
from django.utils.translation import gettext_lazy

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


# What each action is called on the phone's 操作记录 (an unknown one shows as it is stored).
ACTION_LABELS: Final = {
    "sign": gettext_lazy("签名"),
    "decrypt": gettext_lazy("解密"),
    "sign_failed": gettext_lazy("签名失败"),
    "decrypt_failed": gettext_lazy("解密失败"),
    "oauth_grant": gettext_lazy("授权应用"),
    "pin_change": gettext_lazy("修改 PIN 码"),
    "pin_reset": gettext_lazy("重置 PIN 码"),
    "pin_failed": gettext_lazy("PIN 码错误"),
    "pin_locked": gettext_lazy("PIN 码错误次数过多，证书锁定"),
    "claim": gettext_lazy("申领开通"),
    "renewal": gettext_lazy("续费"),
    "rekey": gettext_lazy("更换密钥"),
    "member_change": gettext_lazy("成员变更"),
    "revoke": gettext_lazy("证书吊销"),
}
WARNING_ACTIONS: Final = frozenset({"pin_failed", "pin_locked", "sign_failed", "decrypt_failed"})


@dataclass(frozen=True)
class RecordRow:
    record: OperationRecord
    person: str
    own: bool

    @property
    def label(self) -> str:
        return str(ACTION_LABELS.get(self.record.action, self.record.action))

    @property
    def warning(self) -> bool:
        """A wrong PIN, a lock-out, a failed use: what to look at when a leak is suspected."""
        return self.record.action in WARNING_ACTIONS


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
