from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from mobileca.audit.services import Actor, audit_record
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


def support_request_create(*, enterprise_id: int, user_id: int, subject: str, message: str, phone: str) -> object:
    subject, message, phone = subject.strip(), message.strip(), phone.strip()
    if not subject or not message or len(subject) > 100 or len(message) > 2000:
        raise InvalidInput(_("请填写问题标题和内容（内容不超过 2000 字）"), code="support_incomplete")
    with transaction.atomic():
        request = SupportRequest.objects.create(
            enterprise_id=enterprise_id, user_id=user_id, subject=subject, message=message, phone=phone[:20],
            created_at=now(),
        )  # fmt: skip
        audit_record(
            action="support.request", subject=f"support:{request.pk}", actor=Actor("user", str(user_id)),
            enterprise_id=enterprise_id,
        )  # fmt: skip
    return request


def support_request_answer(*, request_id: int, operator_id: int, answer: str) -> object:
    answer = answer.strip()
    if not answer or len(answer) > 2000:
        raise InvalidInput(_("请填写回复内容"), code="answer_required")
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
