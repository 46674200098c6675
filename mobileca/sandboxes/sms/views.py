"""``POST /v1/messages`` (send) and ``/inbox/<phone>/`` (read)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mobileca.sandboxes.sms.models import Message


@csrf_exempt
@require_POST
def send(request: HttpRequest) -> JsonResponse:
    secret = Path(settings.SANDBOX_SMS["client_secret_path"]).read_text().strip()
    if not secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {secret}"):
        return JsonResponse({"error": "unauthorised"}, status=401)
    try:
        data = json.loads(request.body)
        phone, text = str(data["phone"]), str(data["text"])
    except (KeyError, ValueError):
        return JsonResponse({"error": "bad_request"}, status=400)
    if not (phone.isdigit() and len(phone) == 11) or not text or len(text) > 300:
        return JsonResponse({"error": "bad_request"}, status=400)
    message = Message.objects.create(phone=phone, text=text, sent_at=timezone.now())
    return JsonResponse({"message_id": message.pk})


def inbox(request: HttpRequest, phone: str) -> HttpResponse:
    messages = Message.objects.filter(phone=phone).order_by("-sent_at")[:20]
    return render(request, "sandbox_sms/inbox.html", {"phone": phone, "messages": messages})
