"""Readiness before the opening (「开标前解密检查」, issue 21, R5.2): every sealed bid is checked by the job worker
when it is sealed and again ``MOBILECA_READINESS_LEAD_DAYS`` days before the opening (default "3,1"): the signing
service can still open its envelope at the opening time (``shield.facade.key_readiness``) and the ciphertext on
storage is whole (the size and SHA-256 recorded at sealing). Each check is kept (``ReadinessCheck``, one per bid and
lead); its problems reach the bidder once (SMS to the claimant and the enterprise's message centre) with what to do
while there is time."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from mobileca.bidding.models import Bid, BidStatus, ReadinessCheck
from mobileca.bidding.storage import ciphertext_path
from mobileca.core.clock import now
from mobileca.notices.services import notify
from mobileca.shield import facade as shield

SEALED = "sealed"
LEAD_DAYS_DEFAULT = "3,1"
_CHUNK = 1024 * 1024


def lead_days() -> list[int]:
    """The days before the opening the checks run again (``MOBILECA_READINESS_LEAD_DAYS``: "3,1"), largest first."""
    raw = getattr(settings, "MOBILECA_READINESS_LEAD_DAYS", LEAD_DAYS_DEFAULT)
    parts = raw.split(",") if isinstance(raw, str) else [str(day) for day in raw]
    return sorted({int(part) for part in parts if part.strip() and int(part) > 0}, reverse=True)


def file_digest(path: Path) -> tuple[int, str]:
    """The file's size and SHA-256, read in chunks (bid files may be gigabytes)."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _ciphertext_problem(bid: Bid) -> str:
    if not bid.ciphertext_sha256:
        return ""  # sealed before the checks: nothing recorded to compare with

    path = ciphertext_path(bid)
    if not path.is_file():
        return "ciphertext_damaged"
    size, digest = file_digest(path)
    return "" if (size, digest) == (bid.ciphertext_bytes, bid.ciphertext_sha256) else "ciphertext_damaged"


def _recorded(bid: Bid) -> tuple[str, str, int | None, str]:
    """What the ciphertext check depends on: the stored file's name and what was recorded at sealing."""
    return bid.status, bid.ciphertext_name, bid.ciphertext_bytes, bid.ciphertext_sha256


def problem_advice(code: str, bid: Bid, expires_at: object = None) -> str:
    """What the bidder is told for ``code``: what is wrong and what to do before it is too late."""
    opening = localtime(bid.tender.opening_at).strftime("%Y-%m-%d %H:%M")
    deadline = localtime(bid.tender.bid_deadline).strftime("%Y-%m-%d %H:%M")
    advice = {
        "credential_unknown": _(
            "找不到该投标文件所用的移动证书，开标时将无法解密。请在投标截止（{deadline}）前重新递交。"
        ),
        "credential_revoked": _(
            "该投标文件所用的移动证书已吊销，开标时将无法解密。请在投标截止（{deadline}）前用有效证书重新递交。"
        ),
        "key_replaced": _("该投标文件加密所用的证书已更换，开标时可能无法解密。请在投标截止（{deadline}）前重新递交。"),
        "expires_before_opening": _(
            "您的移动证书将于开标时间（{opening}）前到期。请在开标前办理续期，续期后按提示确认投标文件可解密。"
        ),
        "renewal_pending": _(
            "您的移动证书（协同签名）有一项续期正在办理：续期后，此投标文件须在保存原密钥的手机浏览器上授权解密。开标（{opening}）时请使用该手机，不要清除其浏览器数据或「更换密钥」；如做不到，请在投标截止（{deadline}）前重新递交。"
        ),
        "ciphertext_damaged": _(
            "平台存储的投标文件密文与递交时记录的大小或摘要不一致。请在投标截止（{deadline}）前重新上传投标文件。"
        ),
    }.get(code, _("开标前解密检查发现问题（{code}），请联系客服。"))
    return advice.format(opening=opening, deadline=deadline, code=code)


def bid_readiness_check(*, bid_id: int, lead: str) -> ReadinessCheck | None:
    """Check one sealed bid at one lead; ``None`` if it is no longer sealed. Run twice (or at once by two workers),
    the second finds the first's row under the bid's lock and sends nothing. The stored ciphertext (gigabytes, maybe)
    is read before the bid's row is locked, so an opening or a withdrawal never waits for the hashing; under the lock
    the bid must still be the one that was read, else it is read again there."""
    unlocked = Bid.objects.filter(pk=bid_id, status=BidStatus.SUBMITTED).first()
    if unlocked is None or ReadinessCheck.objects.filter(bid=unlocked, lead=lead).exists():
        unlocked = None  # nothing to read: the locked pass below says which
    ciphertext = _ciphertext_problem(unlocked) if unlocked is not None else ""
    with transaction.atomic():
        bid = Bid.objects.select_for_update().select_related("tender").filter(pk=bid_id).first()
        if bid is None or bid.status != BidStatus.SUBMITTED:
            return None
        existing = ReadinessCheck.objects.filter(bid=bid, lead=lead).first()
        if existing is not None:
            return existing
        if unlocked is None or _recorded(unlocked) != _recorded(bid):  # changed meanwhile (rare): read it again
            ciphertext = _ciphertext_problem(bid)
        readiness = shield.key_readiness(
            service_no=bid.service_no, recipient_serial=bid.recipient_serial, opening_at=bid.tender.opening_at
        )
        problems = [code for code in (readiness.problem, ciphertext) if code]
        try:
            with transaction.atomic():
                check = ReadinessCheck.objects.create(
                    bid=bid,
                    lead=lead,
                    checked_at=now(),
                    outcome="problems" if problems else "ok",
                    problems=problems,
                )
        except IntegrityError:  # the unique constraint: another worker kept (and announced) this lead's check
            return ReadinessCheck.objects.get(bid=bid, lead=lead)
        if problems:
            for code in problems:
                text = _("【开标前解密检查】项目 {project}「{file}」：{advice}").format(
                    project=bid.tender.project_no, file=bid.file_name, advice=problem_advice(code, bid)
                )
                notify(
                    enterprise_id=bid.enterprise_id,
                    kind="bid_readiness",
                    title=_("开标前解密检查：{project}").format(project=bid.tender.project_no),
                    body=text,
                    link=f"/bidding/bids/{bid.pk}/",
                )
                shield.notify_claimant(service_no=bid.service_no, text=text)
        return check


def readiness_checks_due() -> int:
    """What the job worker runs: each sealed bid whose opening is ahead gets its check at sealing (if it was missed)
    and, once inside a lead time, the check of the nearest lead not yet run — unless the check at sealing already
    ran inside that lead time (a bid sealed two days before the opening is not warned twice for the 3-day lead).
    Returns how many checks ran."""
    current, ran = now(), 0
    days = lead_days()
    for bid in Bid.objects.filter(status=BidStatus.SUBMITTED, tender__opening_at__gt=current).select_related("tender"):
        done = dict(bid.readiness_checks.values_list("lead", "checked_at"))
        if SEALED not in done:
            check = bid_readiness_check(bid_id=bid.pk, lead=SEALED)
            if check is None:
                continue
            done[SEALED] = check.checked_at
            ran += 1
        due = [day for day in days if current >= bid.tender.opening_at - timedelta(days=day)]
        if not due:
            continue
        nearest = min(due)
        window_start = bid.tender.opening_at - timedelta(days=nearest)
        if f"{nearest}d" not in done and done[SEALED] < window_start:
            bid_readiness_check(bid_id=bid.pk, lead=f"{nearest}d")
            ran += 1
    return ran


def readiness_shown(bid: Bid) -> list[tuple[ReadinessCheck, list[str]]]:
    """The bid's readiness checks for its page, latest first, each with what its problems ask the bidder to do."""
    checks = list(bid.readiness_checks.order_by("-checked_at", "-id"))
    return [(check, [problem_advice(code, bid) for code in check.problems]) for check in checks]
