"""The bank sandbox: what the signing service calls with its credential (``POST /v1/transfers`` pays from its
verification account; ``POST /v1/sub-accounts`` opens a virtual account for one application; ``GET
/v1/accounts/<number>/credits`` reads the statement of its collection account), and what a person sees in online
banking (``/accounts/<number>/``: the statement, a transfer form, the electronic receipt of each transfer)."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from mobileca.sandboxes.bank.models import Account, Transfer

SERVICE_ACCOUNT = ("9550880200000000999", "e签盾验证付款专户")
COLLECTION_ACCOUNT = "9550880200000001000"


def _authorised(request: HttpRequest) -> bool:
    secret = Path(settings.SANDBOX_BANK["client_secret_path"]).read_text().strip()
    return secrets.compare_digest(request.headers.get("Authorization", "").encode(), f"Bearer {secret}".encode())


def _book(*, from_number: str, from_name: str, to: Account, amount: Decimal, memo: str) -> Transfer:
    return Transfer.objects.create(
        from_number=from_number,
        from_name=from_name,
        to_number=to.number,
        to_name=to.holder_name,
        to_parent=to.parent or to.number,
        amount=amount,
        memo=memo[:100],
        booked_at=timezone.now(),
    )


def _refusal(to: Account | None, to_name: str, amount: Decimal) -> tuple[str, str] | None:
    if to is None:
        return "account_not_found", "收款账户不存在"
    if to.holder_name != to_name:
        return "name_mismatch", "收款户名与账户不符"
    if not Decimal("0.01") <= amount <= Decimal("1000000"):
        return "bad_amount", "金额无效"
    return None


@csrf_exempt
@require_POST
def transfer(request: HttpRequest) -> JsonResponse:
    if not _authorised(request):
        return JsonResponse({"error": "unauthorised"}, status=401)
    try:
        data = json.loads(request.body)
        to_number, to_name, memo = str(data["to_number"]), str(data["to_name"]), str(data.get("memo", ""))[:100]
        amount = Decimal(str(data["amount"]))
    except (KeyError, ValueError, InvalidOperation):
        return JsonResponse({"error": "bad_request"}, status=400)
    to = Account.objects.filter(number=to_number).first()
    refusal = _refusal(to, to_name, amount)
    if refusal is not None:
        return JsonResponse({"error": refusal[0], "message": refusal[1]}, status=404 if to is None else 400)
    assert to is not None
    booked = _book(from_number=SERVICE_ACCOUNT[0], from_name=SERVICE_ACCOUNT[1], to=to, amount=amount, memo=memo)
    return JsonResponse({"transfer_id": booked.pk})


@csrf_exempt
@require_POST
def sub_account_open(request: HttpRequest) -> JsonResponse:
    """A virtual account under the collection account, for one reference (idempotent per reference)."""
    if not _authorised(request):
        return JsonResponse({"error": "unauthorised"}, status=401)
    try:
        reference = str(json.loads(request.body)["reference"])[:64]
    except (KeyError, ValueError, TypeError):
        return JsonResponse({"error": "bad_request"}, status=400)
    if not reference:
        return JsonResponse({"error": "bad_request"}, status=400)
    parent = Account.objects.get(number=COLLECTION_ACCOUNT)
    with transaction.atomic():
        existing = Account.objects.filter(parent=parent.number, reference=reference).first()
        if existing is None:
            count = Account.objects.select_for_update().filter(parent=parent.number).count()
            existing = Account.objects.create(
                number=f"{parent.number}{count + 1:06d}",
                bank_name=parent.bank_name,
                holder_name=parent.holder_name,
                parent=parent.number,
                reference=reference,
            )
    return JsonResponse({"number": existing.number, "holder_name": existing.holder_name, "bank": existing.bank_name})


@require_GET
def credits(request: HttpRequest, number: str) -> JsonResponse:
    """The statement's credits on an account and its sub-accounts, in booking order, after a given id."""
    if not _authorised(request):
        return JsonResponse({"error": "unauthorised"}, status=401)
    try:
        after = int(request.GET.get("after", "0"))
        limit = min(int(request.GET.get("limit", "200")), 500)
    except ValueError:
        return JsonResponse({"error": "bad_request"}, status=400)
    rows = Transfer.objects.filter(to_parent=number, pk__gt=after).order_by("pk")[:limit]
    return JsonResponse(
        {
            "credits": [
                {
                    "id": row.pk,
                    "to_number": row.to_number,
                    "from_number": row.from_number,
                    "from_name": row.from_name,
                    "amount": f"{row.amount:.2f}",
                    "memo": row.memo,
                    "booked_at": row.booked_at.isoformat(),
                }
                for row in rows
            ]
        }
    )


def account_page(request: HttpRequest, number: str) -> HttpResponse:
    """Online banking for one account: its credits and debits, and a transfer form (对公转账)."""
    account = get_object_or_404(Account, number=number)
    error = ""
    if request.method == "POST":
        to = Account.objects.filter(number=request.POST.get("to_number", "").replace(" ", "")).first()
        try:
            amount = Decimal(request.POST.get("amount", "").strip())
        except InvalidOperation:
            amount = Decimal(0)
        refusal = _refusal(to, request.POST.get("to_name", "").strip(), amount)
        if refusal is None and to is not None:
            booked = _book(
                from_number=account.number,
                from_name=account.holder_name,
                to=to,
                amount=amount,
                memo=request.POST.get("memo", "").strip(),
            )
            return redirect("sandbox_bank:receipt", number=account.number, transfer_id=booked.pk)
        error = refusal[1] if refusal else "转账失败"
    credits = Transfer.objects.filter(to_number=number).order_by("-booked_at")[:50]
    debits = Transfer.objects.filter(from_number=number).order_by("-booked_at")[:50]
    return render(
        request,
        "sandbox_bank/account.html",
        {"account": account, "credits": credits, "debits": debits, "error": error},
        status=400 if error else 200,
    )


def receipt(request: HttpRequest, number: str, transfer_id: int) -> HttpResponse:
    booked = get_object_or_404(Transfer, pk=transfer_id, from_number=number)
    return render(request, "sandbox_bank/receipt.html", {"transfer": booked})


def receipt_pdf(request: HttpRequest, number: str, transfer_id: int) -> HttpResponse:
    """The electronic receipt (电子回单) as a one-page PDF, the voucher a payer uploads."""
    booked = get_object_or_404(Transfer, pk=transfer_id, from_number=number)
    lines = [
        "Electronic transfer receipt (sandbox bank)",
        f"Receipt no. {booked.pk:010d}",
        f"Payer account {booked.from_number}",
        f"Payee account {booked.to_number}",
        f"Amount CNY {booked.amount:.2f}",
        f"Memo {booked.memo.encode('ascii', 'replace').decode()}",
        f"Booked {booked.booked_at.isoformat(timespec='seconds')}",
    ]
    response = HttpResponse(_one_page_pdf(lines), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="receipt-{booked.pk}.pdf"'
    return response


def _one_page_pdf(lines: list[str]) -> bytes:
    """A minimal, valid PDF 1.4 with ASCII lines in Helvetica (cross-reference offsets computed, not guessed)."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream = "BT /F1 12 Tf 56 780 Td 16 TL " + " ".join(f"({escape(line)}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for index, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{index} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
