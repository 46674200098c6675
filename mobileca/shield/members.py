"""Who acts for an enterprise in the signing service (R3.8, R3.9): the first person to verify it is its admin;
others join when the admin approves their request (「向管理员发送审批申请」) or adds them by name and phone in
「成员管理」; the admin can reject (with a reason), remove, and hand the admin role to a verified member.

Every write locks the enterprise row first, so decisions about one enterprise's members happen one at a time; a
write that moves the member's claims locks them before the membership (the lock order of ``locks.py``)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, audit_record
from mobileca.ca import facade as ca_facade
from mobileca.core import inputs, limits
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, InvalidInput, NotFound
from mobileca.shield import links, sms
from mobileca.shield.locks import lock_claims, lock_enterprise, lock_memberships
from mobileca.shield.models import (
    ClaimSession,
    ClaimStatus,
    ClaimStep,
    Credential,
    Membership,
    MembershipStatus,
    PhoneAccount,
    ShieldEnterprise,
)
from mobileca.shield.records import record_operation
from mobileca.shield.sealing import keyed_digest
from mobileca.shield.transitions import claim_move, membership_move

# Adding a member texts the number the admin typed (「添加成功」): per enterprise and per number, whoever adds it, so
# adding and removing cannot text anyone again and again. ``MOBILECA_RATE_LIMITS`` overrides them by scope.
MEMBER_ADD_RATES: Final = {"member_add_enterprise": "20/d", "member_add_phone": "3/d"}


# control, format (zero-width, direction overrides) and surrogate characters; private-use ones stay allowed, since
# rare characters of names are still typed with them
_INVISIBLE: Final = frozenset({"Cc", "Cf", "Cs"})


def plain_text(value: object, *, max_length: int, allow: str = "") -> str:
    """Text a person typed, surrounding blanks dropped: at most ``max_length`` characters and no control or other
    invisible format characters (NUL, line breaks unless allowed, direction overrides); ``BadInput`` otherwise."""
    if not isinstance(value, str):
        raise inputs.BadInput("not text")
    stripped = inputs.text(value.strip(), max_length=max_length)
    if any(unicodedata.category(char) in _INVISIBLE and char not in allow for char in stripped):
        raise inputs.BadInput("control character")
    return stripped


def _record(enterprise: ShieldEnterprise, account: str, what: str) -> None:
    """R4.4: a member change is in the member's operation records (the admin sees them too)."""
    if account:
        record_operation(
            action="member_change",
            account=account,
            enterprise_uscc=enterprise.uscc,
            purpose=f"{enterprise.name} · {what}",
        )


def is_member(enterprise: ShieldEnterprise, account: str) -> bool:
    return Membership.objects.filter(enterprise=enterprise, account=account, status=MembershipStatus.ACTIVE).exists()


def _lock_enterprise(uscc: str) -> ShieldEnterprise:
    """The enterprise, locked (a claim step already holds it: ``locks.lock_claim`` took it before the claim)."""
    enterprise = lock_enterprise(uscc)
    if enterprise is None:
        raise NotFound(_("未找到该企业"), code="enterprise_unknown")
    return enterprise


def enterprise_verified(claim: ClaimSession, account: str, *, method: str) -> None:
    """The claimant verified the enterprise (R3.6). The first to do so becomes its admin (R3.9); anyone verifying it
    later has proved the same authority and becomes a member. Called inside the caller's transaction."""
    enterprise = _lock_enterprise(claim.enterprise_uscc)
    person = PhoneAccount.objects.get(account=account)
    moment = now()
    first = enterprise.verified_at is None
    if first:
        enterprise.verified_at, enterprise.verification_method, enterprise.admin_account = moment, method, account
        enterprise.save(update_fields=["verified_at", "verification_method", "admin_account"])
        audit_record(
            action="enterprise.verified",
            subject=f"enterprise:{enterprise.uscc}",
            actor=Actor("phone", account),
            data={"method": method, "admin": account},
        )
    if is_member(enterprise, account):
        return
    for request in lock_memberships(enterprise=enterprise, account=account, status=MembershipStatus.REQUESTED):
        request.reason, request.decided_at = "verified", moment  # superseded by verification
        membership_move(request, MembershipStatus.REJECTED, also=["reason", "decided_at"])
    Membership.objects.create(
        enterprise=enterprise,
        account=account,
        name=person.name,
        phone_digest=person.phone_digest,
        phone_tail=person.phone_tail,
        role="admin" if first else "member",
        status=MembershipStatus.ACTIVE,
        claim=claim,
        created_at=moment,
        decided_at=moment,
        decided_by=account,
    )
    audit_record(
        action="member.joined",
        subject=f"enterprise:{enterprise.uscc}",
        actor=Actor("phone", account),
        data={"account": account, "role": "admin" if first else "member", "by": method},
    )


def step_after_face(claim: ClaimSession, account: str) -> str:
    """Where a claimant goes after their own face check (inside the caller's transaction): verify the enterprise if
    no one has; straight to the PIN for its members (or someone the admin added by this name and phone, who joins
    now); otherwise ask the admin (R3.8)."""
    enterprise = _lock_enterprise(claim.enterprise_uscc)
    if enterprise.verified_at is None:
        return ClaimStep.ENTERPRISE_VERIFY
    if is_member(enterprise, account):
        return ClaimStep.PIN
    person = PhoneAccount.objects.get(account=account)
    added = next(
        iter(
            lock_memberships(
                enterprise=enterprise, status=MembershipStatus.ADDED, name=person.name, phone_digest=person.phone_digest
            )
        ),
        None,
    )
    if added is None or not person.phone_digest:
        return ClaimStep.APPROVAL
    added.account, added.claim = account, claim
    membership_move(added, MembershipStatus.ACTIVE, also=["account", "claim"])
    audit_record(
        action="member.joined",
        subject=f"enterprise:{enterprise.uscc}",
        actor=Actor("phone", account),
        data={"account": account, "role": "member", "by": "added_by_admin"},
    )
    _record(enterprise, account, _("由管理员添加"))
    return ClaimStep.PIN


# --- the employee's side --------------------------------------------------------------------------------------


def membership_request(*, claim: ClaimSession, account: str) -> Membership:
    """「向管理员发送审批申请」 (inside the caller's transaction, the claim locked and at the approval step)."""
    enterprise = _lock_enterprise(claim.enterprise_uscc)
    pending = Membership.objects.filter(enterprise=enterprise, account=account, status=MembershipStatus.REQUESTED)
    if pending.exists():
        return pending.get()
    person = PhoneAccount.objects.get(account=account)
    membership = Membership.objects.create(
        enterprise=enterprise,
        account=account,
        name=person.name,
        phone_digest=person.phone_digest,
        phone_tail=person.phone_tail,
        status=MembershipStatus.REQUESTED,
        claim=claim,
        created_at=now(),
    )
    audit_record(
        action="member.requested",
        subject=f"enterprise:{enterprise.uscc}",
        actor=Actor("phone", account),
        data={"membership": membership.pk, "claim": claim.pk},
    )
    admin = PhoneAccount.objects.filter(account=enterprise.admin_account).first()
    if admin is not None:
        text = _("【e签盾】{name}（手机尾号 {tail}）申请加入「{enterprise}」，请在 e签盾「成员管理」中审批。").format(
            name=person.name, tail=person.phone_tail, enterprise=enterprise.name
        )
        sms.notify_account(account=admin.account, text=text, link=links.link_url(links.MEMBERS))
    return membership


def latest_membership(*, uscc: str, account: str) -> Membership | None:
    return Membership.objects.filter(enterprise__uscc=uscc, account=account).order_by("-created_at", "-pk").first()


@sensitive_variables()
def _notify_added(membership: Membership, enterprise: ShieldEnterprise, phone: str = "") -> None:
    """「添加成功」: a text to the member (the H5 claim page says it too), linking to their claim when they have one
    waiting, else to the e签盾 home."""
    text = _(
        "【e签盾】添加成功：您已成为「{enterprise}」在 e签盾 的成员，请使用本人支付宝扫码继续申领并设置 PIN 码。"
    ).format(enterprise=enterprise.name)
    link = links.link_url(links.CLAIM, str(membership.claim_id)) if membership.claim_id else None
    if phone:
        sms.notify(phone=phone, text=text, link=link)
    elif membership.account:
        sms.notify_account(account=membership.account, text=text, link=link)


# --- the admin's side (成员管理) ------------------------------------------------------------------------------


def _administered(uscc: str, admin_account: str) -> ShieldEnterprise:
    """The enterprise, locked, if this account is its admin; otherwise as if it did not exist (no enterprise sees
    another's members)."""
    enterprise = lock_enterprise(uscc)
    if enterprise is None or not admin_account or enterprise.admin_account != admin_account:
        raise NotFound(_("未找到该企业，或您不是该企业的管理员"), code="not_enterprise_admin")
    return enterprise


def _membership_of(membership_id: int, admin_account: str) -> tuple[ShieldEnterprise, Membership, list[ClaimSession]]:
    """The membership of an enterprise this account administers, with the member's open claims there: the
    enterprise, the claims, then the membership locked (the order of ``locks.py``)."""
    found = Membership.objects.filter(pk=membership_id).values_list("enterprise__uscc", flat=True).first()
    if found is None:
        raise NotFound(_("未找到该成员"), code="membership_unknown")
    enterprise = _administered(found, admin_account)
    return enterprise, *_lock_member(enterprise, membership_id)


def _lock_member(enterprise: ShieldEnterprise, membership_id: int) -> tuple[Membership, list[ClaimSession]]:
    """The membership, locked after the member's open claims for this enterprise (which a decision may move): the
    enterprise is held, so who the member is cannot change in between."""
    account = Membership.objects.filter(pk=membership_id).values_list("account", flat=True).get()
    claims = (
        lock_claims(claimant_account=account, enterprise_uscc=enterprise.uscc, status=ClaimStatus.BOUND)
        if account
        else []
    )
    return lock_memberships(pk=membership_id)[0], claims


def _approve(
    enterprise: ShieldEnterprise, membership: Membership, claims: list[ClaimSession], admin_account: str
) -> None:
    membership.decided_at, membership.decided_by = now(), admin_account
    membership_move(membership, MembershipStatus.ACTIVE, also=["decided_at", "decided_by"])
    # every claim of theirs for this enterprise that waits for the admin moves on to the PIN (R3.8)
    for claim in claims:
        if claim.step == ClaimStep.APPROVAL:
            claim_move(claim, step=ClaimStep.PIN)
    _record(enterprise, membership.account, _("管理员同意加入"))
    audit_record(
        action="member.approved",
        subject=f"enterprise:{enterprise.uscc}",
        actor=Actor("phone", admin_account),
        data={"membership": membership.pk, "account": membership.account},
    )
    _notify_added(membership, enterprise)


@transaction.atomic(durable=True)
def membership_approve(*, admin_account: str, membership_id: int) -> Membership:
    enterprise, membership, claims = _membership_of(membership_id, admin_account)
    if membership.status != MembershipStatus.REQUESTED:
        raise Conflict(_("该申请已处理"), code="membership_decided")
    _approve(enterprise, membership, claims, admin_account)
    return membership


@transaction.atomic(durable=True)
def membership_reject(*, admin_account: str, membership_id: int, reason: str) -> Membership:
    try:
        reason = plain_text(reason, max_length=200, allow="\r\n")
    except inputs.BadInput:
        reason = ""
    if not reason:
        raise InvalidInput(_("请填写拒绝原因（不超过 200 字）"), code="reason_required")
    enterprise, membership, _claims = _membership_of(membership_id, admin_account)
    if membership.status != MembershipStatus.REQUESTED:
        raise Conflict(_("该申请已处理"), code="membership_decided")
    membership.reason, membership.decided_at, membership.decided_by = reason, now(), admin_account
    membership_move(membership, MembershipStatus.REJECTED, also=["reason", "decided_at", "decided_by"])
    audit_record(
        action="member.rejected",
        subject=f"enterprise:{enterprise.uscc}",
        actor=Actor("phone", admin_account),
        data={"membership": membership.pk, "account": membership.account, "reason": reason},
    )
    return membership


@sensitive_variables()
def member_add(*, admin_account: str, uscc: str, name: str, phone: str) -> Membership:
    """Add a member by name and phone: a pending request from that person is approved; otherwise they join when
    they scan their card's code (their phone identity must have this name and phone). Either way a text goes out, so
    each add is counted (``MEMBER_ADD_RATES``) before anything is written; a refused one writes and texts nothing."""
    try:
        name = plain_text(name, max_length=Membership._meta.get_field("name").max_length or 50)
    except inputs.BadInput:
        name = ""
    if len(name) < 2:
        raise InvalidInput(_("请填写成员姓名"), code="bad_name")
    try:
        phone = inputs.digits(phone.replace(" ", "").replace("-", "") if isinstance(phone, str) else phone, length=11)
    except inputs.BadInput:
        phone = ""
    if not phone.startswith("1"):
        raise InvalidInput(_("请填写 11 位手机号"), code="bad_phone")
    digest = keyed_digest(phone)
    # what a refusal under the lock would say anyway, said before counting (no text would go out)
    enterprise = ShieldEnterprise.objects.filter(uscc=uscc).first()
    if enterprise is None or not admin_account or enterprise.admin_account != admin_account:
        raise NotFound(_("未找到该企业，或您不是该企业的管理员"), code="not_enterprise_admin")
    if _live_members(enterprise, digest).filter(status__in=[MembershipStatus.ADDED, MembershipStatus.ACTIVE]).exists():
        raise Conflict(_("该手机号已是企业成员"), code="already_member")
    # counted outside the transaction, so a refused add still counts; per enterprise first (who is asking)
    limits.hit(
        "member_add_enterprise",
        enterprise.uscc,
        MEMBER_ADD_RATES["member_add_enterprise"],
        message=_("今天添加成员的次数已达上限，请明天再试"),
    )
    limits.hit(
        "member_add_phone",
        digest,
        MEMBER_ADD_RATES["member_add_phone"],
        message=_("该手机号今天收到的添加通知已达上限，请明天再试"),
    )
    return _member_add(admin_account=admin_account, uscc=uscc, name=name, phone=phone, digest=digest)


def _live_members(enterprise: ShieldEnterprise, digest: str) -> QuerySet[Membership]:
    return Membership.objects.filter(
        enterprise=enterprise,
        phone_digest=digest,
        status__in=[MembershipStatus.REQUESTED, MembershipStatus.ADDED, MembershipStatus.ACTIVE],
    )


@transaction.atomic(durable=True)
def _member_add(*, admin_account: str, uscc: str, name: str, phone: str, digest: str) -> Membership:
    enterprise = _administered(uscc, admin_account)
    live = _live_members(enterprise, digest)  # the enterprise's lock serialises member writes
    if live.filter(status__in=[MembershipStatus.ADDED, MembershipStatus.ACTIVE]).exists():
        raise Conflict(_("该手机号已是企业成员"), code="already_member")
    request = live.filter(status=MembershipStatus.REQUESTED, name=name).first()
    if request is not None:
        request, claims = _lock_member(enterprise, request.pk)
        _approve(enterprise, request, claims, admin_account)
        return request
    membership = Membership.objects.create(
        enterprise=enterprise,
        name=name,
        phone_digest=digest,
        phone_tail=phone[-4:],
        status=MembershipStatus.ADDED,
        created_at=now(),
        decided_at=now(),
        decided_by=admin_account,
    )
    audit_record(
        action="member.added",
        subject=f"enterprise:{enterprise.uscc}",
        actor=Actor("phone", admin_account),
        data={"membership": membership.pk, "phone_tail": phone[-4:]},
    )
    _notify_added(membership, enterprise, phone=phone)
    return membership


@transaction.atomic(durable=True)
def member_remove(*, admin_account: str, membership_id: int) -> Membership:
    """The member no longer acts for the enterprise: a claim not yet activated goes back to waiting for approval
    (and cannot set a PIN); certificates already issued to them for this enterprise are revoked (affiliation
    changed), since they name the enterprise. The bids sealed for those certificates stay readable at the opening
    by the claimant alone, with the PIN (谁申领谁使用, issue 21): decryption only, never signing."""
    enterprise, membership, claims = _membership_of(membership_id, admin_account)
    if membership.role == "admin":
        raise Conflict(_("不能移除管理员，请先移交管理员"), code="cannot_remove_admin")
    if membership.status not in (MembershipStatus.ACTIVE, MembershipStatus.ADDED):
        raise Conflict(_("该成员已不在企业中"), code="membership_not_live")
    membership.decided_at, membership.decided_by = now(), admin_account
    membership_move(membership, MembershipStatus.REMOVED, also=["decided_at", "decided_by"])
    for claim in claims:  # not yet activated: back to waiting for the admin, so no PIN can be set (R3.8)
        if claim.step == ClaimStep.PIN:
            claim_move(claim, step=ClaimStep.APPROVAL)
    revoked: list[str] = []
    if membership.account:
        for credential in Credential.objects.filter(account=membership.account, enterprise_uscc=enterprise.uscc):
            if ca_facade.credential_revoke(
                owner_id=f"credential:{credential.service_no}", reason=x509.ReasonFlags.affiliation_changed
            ):
                revoked.append(credential.service_no)
            if not credential.revoked_reason:  # issue 21: the claimant alone may still open what was sealed for it
                credential.revoked_reason = "affiliation_changed"
                credential.save(update_fields=["revoked_reason"])
    _record(enterprise, membership.account, _("被管理员移出"))
    audit_record(
        action="member.removed",
        subject=f"enterprise:{enterprise.uscc}",
        actor=Actor("phone", admin_account),
        data={"membership": membership.pk, "account": membership.account, "revoked": revoked},
    )
    return membership


@transaction.atomic(durable=True)
def admin_hand_over(*, admin_account: str, membership_id: int) -> ShieldEnterprise:
    """Hand the admin role to a member who has claimed with their own phone identity (recorded)."""
    enterprise, target, _claims = _membership_of(membership_id, admin_account)
    if target.status != MembershipStatus.ACTIVE or not target.account or target.role == "admin":
        raise Conflict(_("只能移交给已加入企业的其他成员"), code="bad_new_admin")
    Membership.objects.filter(enterprise=enterprise, role="admin", status=MembershipStatus.ACTIVE).update(role="member")
    target.role = "admin"
    target.save(update_fields=["role"])
    enterprise.admin_account = target.account
    enterprise.save(update_fields=["admin_account"])
    _record(enterprise, admin_account, _("移交管理员"))
    _record(enterprise, target.account, _("成为管理员"))
    audit_record(
        action="enterprise.admin_handed_over",
        subject=f"enterprise:{enterprise.uscc}",
        actor=Actor("phone", admin_account),
        data={"from": admin_account, "to": target.account},
    )
    return enterprise


@dataclass(frozen=True)
class AdministeredEnterprise:
    enterprise: ShieldEnterprise
    requests: list[Membership]
    members: list[Membership]


def administered_by(account: str) -> list[AdministeredEnterprise]:
    """What 「成员管理」 shows an admin: each enterprise they administer, its pending requests and its members."""
    result = []
    for enterprise in ShieldEnterprise.objects.filter(admin_account=account).order_by("name") if account else []:
        rows = list(enterprise.memberships.order_by("role", "created_at", "pk"))  # the admin first
        result.append(
            AdministeredEnterprise(
                enterprise=enterprise,
                requests=[row for row in rows if row.status == MembershipStatus.REQUESTED],
                members=[row for row in rows if row.status in (MembershipStatus.ACTIVE, MembershipStatus.ADDED)],
            )
        )
    return result
