"""``POST /v1/transfers`` (the service pays, with its credential) and ``/accounts/<number>/`` (the statement)."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mobileca.sandboxes.bank.models import Account, Transfer

SERVICE_ACCOUNT = ("9550880200000000999", "e签盾验证付款专户")


@csrf_exempt
@require_POST
def transfer(request: HttpRequest) -> JsonResponse:
    secret = Path(settings.SANDBOX_BANK["client_secret_path"]).read_text().strip()
    if not secrets.compare_digest(request.headers.get("Authorization", "").encode(), f"Bearer {secret}".encode()):
        return JsonResponse({"error": "unauthorised"}, status=401)
    try:
        data = json.loads(request.body)
        to_number, to_name, memo = str(data["to_number"]), str(data["to_name"]), str(data.get("memo", ""))[:100]
        amount = Decimal(str(data["amount"]))
    except (KeyError, ValueError, InvalidOperation):
        return JsonResponse({"error": "bad_request"}, status=400)
    account = Account.objects.filter(number=to_number).first()
    if account is None:
        return JsonResponse({"error": "account_not_found", "message": "收款账户不存在"}, status=404)
    if account.holder_name != to_name:
        return JsonResponse({"error": "name_mismatch", "message": "收款户名与账户不符"}, status=400)
    if not Decimal("0.01") <= amount <= Decimal("1000000"):
        return JsonResponse({"error": "bad_amount"}, status=400)
    booked = Transfer.objects.create(
        from_number=SERVICE_ACCOUNT[0],
        from_name=SERVICE_ACCOUNT[1],
        to_number=to_number,
        to_name=to_name,
        amount=amount,
        memo=memo,
        booked_at=timezone.now(),
    )
    return JsonResponse({"transfer_id": booked.pk})


def account_page(request: HttpRequest, number: str) -> HttpResponse:
    account = get_object_or_404(Account, number=number)
    credits = Transfer.objects.filter(to_number=number).order_by("-booked_at")[:50]
    return render(request, "sandbox_bank/account.html", {"account": account, "credits": credits})
