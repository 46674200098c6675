from __future__ import annotations

import re

from django.db import transaction
from django.utils.translation import gettext as _

from mobileca.audit.services import Actor, audit_record
from mobileca.core import inputs, limits
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, InvalidInput, NotFound
from mobileca.notices.models import Notice, SupportRequest


def notify(*, enterprise_id: int, kind: str, title: str, body: str, link: str = "") -> Notice:
    """A notice in the enterprise's message centre (inside the caller's transaction, so it exists iff the change)."""
    return Notice.objects.create(
        enterprise_id=enterprise_id, kind=kind, title=title[:100], body=body[:500], link=link[:200], created_at=now()
    )


@transaction.atomic
def notices_mark_read(*, enterprise_id: int) -> int:
    return Notice.objects.filter(enterprise_id=enterprise_id, read_at__isnull=True).update(read_at=now())


def notices_for(*, enterprise_id: int, limit: int = 50) -> list[Notice]:
    return list(Notice.objects.filter(enterprise_id=enterprise_id)[:limit])


def unread_count(*, enterprise_id: int) -> int:
    return Notice.objects.filter(enterprise_id=enterprise_id, read_at__isnull=True).count()


SUBJECT_MAX, MESSAGE_MAX, ANSWER_MAX = 100, 2000, 2000  # SupportRequest's columns
# How many messages one user, and one enterprise's users together, may leave (``MOBILECA_RATE_LIMITS`` overrides):
# plenty for a person with questions, not a way to fill the support queue or the database.
SUPPORT_RATE_PER_USER = "5/h"
SUPPORT_RATE_PER_ENTERPRISE = "30/d"
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９－＋", "0123456789-+")
_PHONE = re.compile(r"[0-9+\- ]{0,20}")


def _bounded(value: str, maximum: int) -> str:
    try:
        return inputs.text(value, max_length=maximum).strip()
    except inputs.BadInput as exc:
        raise InvalidInput(
            _("请填写问题标题（不超过 {subject} 字）和内容（不超过 {message} 字）").format(
                subject=SUBJECT_MAX, message=MESSAGE_MAX
            ),
            code="support_incomplete",
        ) from exc


def support_request_create(*, enterprise_id: int, user_id: int, subject: str, message: str, phone: str) -> object:
    """「在线留言」: a question to customer service. Checked first (a refused form costs nothing), then counted per
    user and per enterprise (``core.limits``, outside the transaction: a message refused for the rate is not
    stored, and the count stands)."""
    subject, message = _bounded(subject, SUBJECT_MAX), _bounded(message, MESSAGE_MAX)
    if not subject or not message:
        raise InvalidInput(_("请填写问题标题和内容（内容不超过 2000 字）"), code="support_incomplete")
    phone = phone.strip().translate(_FULL_WIDTH_DIGITS)
    if _PHONE.fullmatch(phone) is None:
        raise InvalidInput(_("联系电话只能包含数字、空格、+ 和 -，不超过 20 位"), code="bad_phone")
    limits.hit(
        "support_request_user",
        str(user_id),
        SUPPORT_RATE_PER_USER,
        message=_("您的留言过于频繁，请稍后再试；急事请致电客服"),
    )
    limits.hit(
        "support_request_enterprise",
        str(enterprise_id),
        SUPPORT_RATE_PER_ENTERPRISE,
        message=_("本企业的留言已达上限，请稍后再试；急事请致电客服"),
    )
    with transaction.atomic():
        request = SupportRequest.objects.create(
            enterprise_id=enterprise_id, user_id=user_id, subject=subject, message=message, phone=phone,
            created_at=now(),
        )  # fmt: skip
        audit_record(
            action="support.request", subject=f"support:{request.pk}", actor=Actor("user", str(user_id)),
            enterprise_id=enterprise_id,
        )  # fmt: skip
    return request


def support_request_answer(*, request_id: int, operator_id: int, answer: str) -> object:
    answer = answer.strip()
    if not answer or len(answer) > ANSWER_MAX or "\x00" in answer:
        raise InvalidInput(_("请填写回复内容（不超过 2000 字）"), code="answer_required")
    with transaction.atomic():
        request = SupportRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None:
            raise NotFound(_("未找到该留言"), code="support_unknown")
        if request.answered_at is not None:
            raise Conflict(_("该留言已回复"), code="support_answered")
        request.answer, request.answered_by_id, request.answered_at = answer, operator_id, now()
        request.save(update_fields=["answer", "answered_by", "answered_at"])
        audit_record(
            action="support.answered", subject=f"support:{request.pk}", actor=Actor("operator", str(operator_id)),
            enterprise_id=request.enterprise_id,
        )  # fmt: skip
        notify(
            enterprise_id=request.enterprise_id,
            kind="support_answered",
            title=_("客服已回复您的留言"),
            body=_("「{subject}」：{answer}").format(subject=request.subject, answer=answer[:200]),
            link="/help/contact/",
        )
    return request
