"""对公打款认证 (R3.6, §7): the enterprise proves it controls its corporate account.

* 正向打款 — the service pays a random ¥0.01–0.99 into the account; the claimant enters the amount received, within
  7 days, with at most 3 wrong entries. Only a keyed digest of the amount is kept. Each guess is worth 1/99, so the
  transfers and the wrong entries are also capped per enterprise over a rolling window, whatever card or claim they
  come from (``FORWARD_TRANSFER_PER_ENTERPRISE``), and counted under the enterprise's row lock before the bank pays.
* 反向打款 — the bank opens an account for this application alone; the enterprise pays ¥0.01 into it from the
  corporate account with a given memo and uploads the voucher. A periodic job reads the bank's statement of the
  collection account; the verification completes when a credit from that account, with that memo and amount, is
  there and the voucher is uploaded — the voucher alone proves nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Final

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, audit_record
from mobileca.core import inputs
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput
from mobileca.core.inputs import BadInput
from mobileca.core.uploads import sniff_voucher_type
from mobileca.shield import bank, members
from mobileca.shield.claims import SERVICE, claim_of_claimant, claim_of_claimant_locked
from mobileca.shield.locks import lock_claims, lock_enterprise
from mobileca.shield.models import (
    ClaimSession,
    ClaimStatus,
    ClaimStep,
    ForwardTransfer,
    ReverseTransfer,
    ShieldEnterprise,
    StatementCursor,
    TransferCredit,
    TransferStatus,
)
from mobileca.shield.sealing import digest_matches, keyed_digest
from mobileca.shield.transitions import claim_move, transfer_move

_MEMO_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a phone, typed into online banking


def _refuse_unless_at_verification(ticket: str, account: str) -> tuple[ClaimSession, ShieldEnterprise]:
    claim = claim_of_claimant(ticket, account, at=ClaimStep.ENTERPRISE_VERIFY)
    return claim, ShieldEnterprise.objects.get(uscc=claim.enterprise_uscc)


def _corporate_account(enterprise: ShieldEnterprise, bank_name: str, account_name: str, account_no: str) -> str:
    account_no, account_name = account_no.replace(" ", ""), account_name.strip()
    if account_name != enterprise.name:
        raise InvalidInput(_("对公账户户名须与企业名称一致"), code="account_name_mismatch")
    if not (account_no.isascii() and account_no.isdigit() and 8 <= len(account_no) <= 32) or not bank_name.strip():
        raise InvalidInput(_("请填写开户银行和正确的对公账号"), code="bad_account")
    return account_no


# --- 正向打款 --------------------------------------------------------------------------------------------------

# Per enterprise (its USCC), whatever card or claim the transfers were made for, in a rolling window: each wrong entry
# is a guess at one of 99 amounts, so at most ``max_wrong`` of them give a guesser at most 3/99 (about 3 %) of becoming
# the enterprise's admin; ``max_transfers`` bounds what the bank pays into one account. The per-claim limits of
# ``MOBILECA_FORWARD_TRANSFER`` (3 transfers, 3 wrong entries each) hold as well.
FORWARD_TRANSFER_PER_ENTERPRISE: Final = {"window_days": 30, "max_transfers": 3, "max_wrong": 3}
_LOWEST, _HIGHEST = Decimal("0.01"), Decimal("0.99")


def enterprise_caps() -> dict[str, int]:
    """``FORWARD_TRANSFER_PER_ENTERPRISE``, with what ``MOBILECA_FORWARD_TRANSFER_PER_ENTERPRISE`` overrides."""
    return {**FORWARD_TRANSFER_PER_ENTERPRISE, **getattr(settings, "MOBILECA_FORWARD_TRANSFER_PER_ENTERPRISE", {})}


def _of_enterprise_lately(uscc: str) -> QuerySet[ForwardTransfer]:
    """The enterprise's forward transfers of the rolling window (every claim of every card for this USCC); a wrong
    entry is made within a transfer's 7 days, so it counts for the window of its transfer."""
    since = now() - timedelta(days=enterprise_caps()["window_days"])
    return ForwardTransfer.objects.filter(claim__enterprise_uscc=uscc, created_at__gte=since)


def _wrong_entries_lately(uscc: str) -> int:
    return int(_of_enterprise_lately(uscc).aggregate(total=Sum("wrong_entries"))["total"] or 0)


def _refuse_past_caps(claim: ClaimSession) -> None:
    """Counted with the enterprise and the claim locked (``claim_of_claimant_locked``), so concurrent starts for the
    same enterprise, from any of its claims, are counted one after the other."""
    caps = enterprise_caps()
    if ForwardTransfer.objects.filter(claim=claim).count() >= settings.MOBILECA_FORWARD_TRANSFER["max_per_claim"]:
        # each transfer allows a few guesses of 99 amounts: restarting without end would make guessing pay
        raise Conflict(_("正向打款次数已达上限，请改用反向打款或法定代表人认证"), code="transfer_limit")
    if _wrong_entries_lately(claim.enterprise_uscc) >= caps["max_wrong"]:
        raise Conflict(
            _("该企业近 {days} 天打款金额错误次数已达上限，请改用反向打款或法定代表人认证").format(
                days=caps["window_days"]
            ),
            code="transfer_guesses_exhausted",
        )
    if _of_enterprise_lately(claim.enterprise_uscc).count() >= caps["max_transfers"]:
        raise Conflict(
            _("该企业近 {days} 天正向打款次数已达上限，请改用反向打款或法定代表人认证").format(
                days=caps["window_days"]
            ),
            code="transfer_enterprise_limit",
        )


def _bank_name(bank_name: str) -> str:
    """The bank's name as typed: one line of at most 100 characters (the column), no control characters."""
    try:
        name = members.plain_text(bank_name, max_length=100)
    except BadInput:
        name = ""
    if not name:
        raise InvalidInput(_("请填写开户银行和正确的对公账号"), code="bad_account")
    return name


@sensitive_variables("amount")
def forward_transfer_start(
    *, ticket: str, account: str, bank_name: str, account_name: str, account_no: str
) -> ForwardTransfer:
    """The claimant gives the corporate account (its name must be the enterprise's); the service pays a random small
    amount into it and waits for the claimant to enter what arrived.

    The transfer is counted and written (``sending``) with the enterprise and the claim locked, before the bank is
    asked to pay, so concurrent starts cannot pass the caps; the bank is called with no lock held. A payment the bank
    refuses outright (no such account) made nothing: the row goes. Any other failure may have paid: the row stays,
    failed, and still counts."""
    claim, enterprise = _refuse_unless_at_verification(ticket, account)
    bank_name = _bank_name(bank_name)
    account_no = _corporate_account(enterprise, bank_name, account_name, account_no)
    amount = Decimal(secrets.randbelow(99) + 1) / 100  # ¥0.01–0.99
    moment = now()
    with transaction.atomic(durable=True):
        claim = claim_of_claimant_locked(ticket, account, at=ClaimStep.ENTERPRISE_VERIFY)
        _refuse_past_caps(claim)
        transfer = ForwardTransfer.objects.create(
            claim=claim,
            bank_name=bank_name,
            account_name=enterprise.name,
            account_no_tail=account_no[-4:],
            amount_digest=keyed_digest(f"{amount:.2f}"),
            status=TransferStatus.SENDING,
            created_at=moment,
            expires_at=moment + timedelta(days=settings.MOBILECA_FORWARD_TRANSFER["valid_days"]),
        )
    try:
        bank.pay(to_number=account_no, to_name=enterprise.name, amount=amount, memo="e签盾企业认证")
    except InvalidInput:  # the bank refused the account: nothing was paid, nothing is counted
        with transaction.atomic(durable=True):
            _lock_forward(transfer).delete()
        raise
    except Exception:  # a timeout or a bank error: it may have paid, so it stays counted
        with transaction.atomic(durable=True):
            transfer_move(_lock_forward(transfer), TransferStatus.FAILED)
        raise
    with transaction.atomic(durable=True):
        transfer = _lock_forward(transfer)
        replaced = ForwardTransfer.objects.select_for_update().filter(claim=claim, status=TransferStatus.PENDING)
        for previous in replaced.order_by("pk"):
            transfer_move(previous, TransferStatus.FAILED)  # a new one replaces it
        transfer_move(transfer, TransferStatus.PENDING)
        audit_record(
            action="claim.forward_transfer_sent",
            subject=f"claim:{claim.pk}",
            actor=Actor("phone", account),
            data={"account_tail": account_no[-4:]},
        )
    return transfer


def _lock_forward(transfer: ForwardTransfer) -> ForwardTransfer:
    """The transfer, locked after its enterprise and its claim (levels 1, 2, 5 of ``locks.py``), whatever step the
    claim has reached meanwhile."""
    uscc = ClaimSession.objects.values_list("enterprise_uscc", flat=True).get(pk=transfer.claim_id)
    lock_enterprise(uscc)
    lock_claims(pks=[transfer.claim_id])
    return ForwardTransfer.objects.select_for_update().get(pk=transfer.pk)


def _entered(amount: str) -> Decimal:
    """What the claimant typed: ``0.12``, ``¥0.12``, ``０．１２`` are read; anything else, or an amount the service
    never pays (outside ¥0.01–0.99), is refused before the comparison, so it is no guess and is not counted."""
    typed = amount.strip().removeprefix("¥").removeprefix("￥") if isinstance(amount, str) else amount
    try:
        entered = inputs.amount(typed, lenient=True)
    except BadInput:
        entered = Decimal(-1)
    if not _LOWEST <= entered <= _HIGHEST:
        raise InvalidInput(
            _("请填写到账金额（0.01 至 0.99 元之间，如 0.12），本次输入不计入错误次数"), code="transfer_bad_amount"
        )
    return entered


@sensitive_variables("amount", "entered")
def forward_transfer_confirm(*, ticket: str, account: str, amount: str) -> ClaimSession:
    """The amount received: right → the enterprise is verified (the claimant becomes its admin if it is the first).
    Wrong entries fail this transfer past 3 of them, and fail it for the whole enterprise once the enterprise has made
    ``max_wrong`` in the window (then no entry is compared until the window has moved on); so do 7 days."""
    entered = _entered(amount)
    caps = enterprise_caps()
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True):
        claim = claim_of_claimant_locked(ticket, account, at=ClaimStep.ENTERPRISE_VERIFY)  # the enterprise first
        transfer = (
            ForwardTransfer.objects.select_for_update().filter(claim=claim, status=TransferStatus.PENDING).first()
        )
        wrong_lately = _wrong_entries_lately(claim.enterprise_uscc)
        exhausted = Conflict(
            _("该企业近 {days} 天打款金额错误次数已达上限，请改用反向打款或法定代表人认证").format(
                days=caps["window_days"]
            ),
            code="transfer_guesses_exhausted",
        )
        if transfer is None:
            raise Conflict(_("请先发起对公打款"), code="transfer_missing")
        if now() >= transfer.expires_at:
            transfer_move(transfer, TransferStatus.FAILED)
            refusal = Conflict(_("打款验证已超过 7 天有效期，请重新发起"), code="transfer_expired")
        elif wrong_lately >= caps["max_wrong"]:
            raise exhausted  # not compared: nothing changes
        elif digest_matches(transfer.amount_digest, f"{entered:.2f}"):
            transfer_move(transfer, TransferStatus.VERIFIED)
            members.enterprise_verified(claim, account, method="forward_transfer")
            claim_move(claim, step=ClaimStep.PIN, expected=ClaimStep.ENTERPRISE_VERIFY)
        else:
            transfer.wrong_entries += 1
            if wrong_lately + 1 >= caps["max_wrong"]:
                transfer_move(transfer, TransferStatus.FAILED, also=["wrong_entries"])
                refusal = exhausted
            elif transfer.wrong_entries > settings.MOBILECA_FORWARD_TRANSFER["max_wrong"]:
                transfer_move(transfer, TransferStatus.FAILED, also=["wrong_entries"])
                refusal = Conflict(_("金额错误次数过多，本次打款验证失败，请重新发起"), code="transfer_failed")
            else:
                transfer.save(update_fields=["wrong_entries"])
                refusal = InvalidInput(_("金额不正确，请核对到账金额"), code="transfer_wrong_amount")
    if refusal is not None:
        raise refusal
    return claim


# --- 反向打款 --------------------------------------------------------------------------------------------------


def _new_memo() -> str:
    return "RZ" + "".join(secrets.choice(_MEMO_ALPHABET) for _ in range(8))


def reverse_transfer_start(
    *, ticket: str, account: str, bank_name: str, account_name: str, account_no: str
) -> ReverseTransfer:
    """The claimant names the corporate account that will pay; the bank opens an account for this application and
    the service shows it with the amount (¥0.01) and the memo."""
    claim, enterprise = _refuse_unless_at_verification(ticket, account)
    bank_name = _bank_name(bank_name)
    account_no = _corporate_account(enterprise, bank_name, account_name, account_no)
    reference = f"claim-{claim.pk}-{secrets.token_hex(6)}"
    opened = bank.open_sub_account(reference=reference)  # before any lock
    moment = now()
    with transaction.atomic(durable=True):
        claim = claim_of_claimant_locked(ticket, account, at=ClaimStep.ENTERPRISE_VERIFY)
        for previous in ReverseTransfer.objects.select_for_update().filter(claim=claim, status=TransferStatus.PENDING):
            transfer_move(previous, TransferStatus.FAILED)  # a new one (another paying account) replaces it
        transfer = ReverseTransfer.objects.create(
            claim=claim,
            payer_bank_name=bank_name,
            payer_account_name=enterprise.name,
            payer_account_digest=keyed_digest(account_no),
            payer_account_tail=account_no[-4:],
            to_account=opened.number,
            to_account_name=opened.holder_name,
            amount=Decimal(str(settings.MOBILECA_REVERSE_TRANSFER["amount"])),
            memo=_new_memo(),
            created_at=moment,
            expires_at=moment + timedelta(days=int(settings.MOBILECA_REVERSE_TRANSFER["valid_days"])),
        )
        audit_record(
            action="claim.reverse_transfer_opened",
            subject=f"claim:{claim.pk}",
            actor=Actor("phone", account),
            data={"payer_tail": account_no[-4:], "to_account": opened.number, "memo": transfer.memo},
        )
    return transfer


def reverse_voucher_upload(*, ticket: str, account: str, upload: UploadedFile) -> ReverseTransfer:
    """The transfer voucher (PDF/JPEG/PNG, ≤ 10 MB). If the bank has already shown the credit, this completes it."""
    content_type = sniff_voucher_type(upload)  # type and size refused before anything is written
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    with transaction.atomic(durable=True):
        claim = claim_of_claimant_locked(ticket, account)
        transfer = (
            ReverseTransfer.objects.select_for_update().filter(claim=claim, status=TransferStatus.PENDING).first()
        )
        if transfer is None:
            raise Conflict(_("请先发起反向打款"), code="transfer_missing")
        if now() >= transfer.expires_at:
            raise Conflict(_("打款验证已超过 7 天有效期，请重新发起"), code="transfer_expired")
        extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}[content_type]
        transfer.voucher.save(f"{transfer.memo}.{extension}", upload, save=False)
        transfer.voucher_content_type, transfer.voucher_sha256 = content_type, digest.hexdigest()
        transfer.voucher_uploaded_at = now()
        transfer.save(update_fields=["voucher", "voucher_content_type", "voucher_sha256", "voucher_uploaded_at"])
        audit_record(
            action="claim.reverse_voucher_uploaded",
            subject=f"claim:{claim.pk}",
            actor=Actor("phone", account),
            data={"sha256": transfer.voucher_sha256, "size": upload.size or 0},
        )
        if transfer.credit_seen_at is not None:
            _reverse_verified(transfer, claim)
    return transfer


def _reverse_verified(transfer: ReverseTransfer, claim: ClaimSession) -> None:
    """Both the credit and the voucher are here (inside the caller's transaction, the claim locked)."""
    transfer.verified_at = now()
    transfer_move(transfer, TransferStatus.VERIFIED, also=["verified_at"])
    audit_record(action="claim.reverse_transfer_verified", subject=f"claim:{claim.pk}", actor=SERVICE)
    if claim.status == ClaimStatus.BOUND and claim.step == ClaimStep.ENTERPRISE_VERIFY:
        members.enterprise_verified(claim, claim.claimant_account, method="reverse_transfer")
        claim_move(claim, step=ClaimStep.PIN, expected=ClaimStep.ENTERPRISE_VERIFY)


def reverse_transfers_reconcile() -> dict[str, int]:
    """The periodic job: read the collection account's new credits from the bank and match each to its
    application (by the per-application account), checking payer, memo and amount; expire old ones. Safe to run
    twice at once: each credit is judged once (a unique bank reference) under the cursor's row lock."""
    collection = settings.MOBILECA_BANK["collection_account"]
    cursor, _created = StatementCursor.objects.get_or_create(account=collection)
    outcomes: dict[str, int] = {}
    for credit in bank.credits_after(sequence=cursor.last_id):  # network first, no lock held
        with transaction.atomic(durable=True):
            cursor = StatementCursor.objects.select_for_update().get(account=collection)
            if credit.sequence <= cursor.last_id:
                continue
            outcome = _judge(credit)
            cursor.last_id = credit.sequence
            cursor.save(update_fields=["last_id"])
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    outcomes["expired"] = _expire_reverse_transfers()
    return outcomes


def _judge(credit: bank.Credit) -> str:
    """Judge one credit (the cursor locked). A match may verify the enterprise, so the lock order is kept:
    enterprise, claim, then the transfer."""
    claim_id = ReverseTransfer.objects.filter(to_account=credit.to_number).values_list("claim_id", flat=True).first()
    claim = None
    if claim_id is not None:
        uscc = ClaimSession.objects.values_list("enterprise_uscc", flat=True).get(pk=claim_id)
        lock_enterprise(uscc)
        claim = lock_claims(pks=[claim_id])[0]
    transfer = ReverseTransfer.objects.select_for_update().filter(to_account=credit.to_number).first()
    if transfer is None:
        outcome = "unknown"
    elif transfer.status != TransferStatus.PENDING or credit.booked_at >= transfer.expires_at:
        outcome = "closed"
    elif not digest_matches(transfer.payer_account_digest, credit.from_number) or (
        credit.from_name != transfer.payer_account_name  # the bank's holder name: the enterprise's own account
    ):
        outcome = "wrong_payer"
    elif credit.memo.strip().upper() != transfer.memo:
        outcome = "wrong_memo"
    elif credit.amount != transfer.amount:
        outcome = "wrong_amount"
    else:
        outcome = "matched"
    TransferCredit.objects.create(
        bank_ref=credit.bank_ref,
        transfer=transfer,
        to_account=credit.to_number,
        from_account_tail=credit.from_number[-4:],
        amount=credit.amount,
        memo=credit.memo[:100],
        outcome=outcome,
        booked_at=credit.booked_at,
        seen_at=now(),
    )
    if transfer is not None:
        audit_record(
            action="claim.reverse_transfer_credit",
            subject=f"claim:{transfer.claim_id}",
            actor=SERVICE,
            data={"bank_ref": credit.bank_ref, "outcome": outcome, "amount": f"{credit.amount:.2f}"},
        )
    if outcome == "matched" and transfer is not None:
        transfer.credit_ref, transfer.credit_seen_at = credit.bank_ref, now()
        transfer.save(update_fields=["credit_ref", "credit_seen_at"])
        if transfer.voucher_uploaded_at is not None and claim is not None:
            _reverse_verified(transfer, claim)
    return outcome


def _expire_reverse_transfers() -> int:
    expired = 0
    for transfer_id in ReverseTransfer.objects.filter(status=TransferStatus.PENDING, expires_at__lte=now()).values_list(
        "pk", flat=True
    ):
        with transaction.atomic(durable=True):
            transfer = ReverseTransfer.objects.select_for_update().get(pk=transfer_id)
            if transfer.status != TransferStatus.PENDING or transfer.expires_at > now():
                continue
            transfer_move(transfer, TransferStatus.FAILED)
            audit_record(action="claim.reverse_transfer_expired", subject=f"claim:{transfer.claim_id}", actor=SERVICE)
            expired += 1
    return expired
