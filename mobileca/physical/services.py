"""「CA 办理申请」 and dispatch of the physical CA (R1.3)."""

from __future__ import annotations

import re
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from mobileca.accounts.models import Enterprise, User
from mobileca.audit.services import Actor, audit_record
from mobileca.core import inputs
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, InvalidInput, NotFound
from mobileca.core.states import ensure_transition
from mobileca.core.uploads import sniff_voucher_type
from mobileca.core.validators import is_valid_uscc
from mobileca.notices.services import notify
from mobileca.orders.services import order_cancel
from mobileca.physical.models import APPLICATION_TRANSITIONS, Application, ApplicationStatus, Shipment

_PHONE = re.compile(r"(1[0-9]{10}|0[0-9]{2,3}-?[0-9]{7,8})")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９－", "0123456789-")
# The form's text fields and their columns' lengths: longer is refused, never cut.
_TEXT_FIELDS = {"enterprise_name": 200, "uscc": 18, "legal_representative": 50, "contact_name": 50, "address": 300}
MAX_KEYS = 20


def _text(value: str, message: str, code: str) -> str:
    try:
        return inputs.text(value).strip()
    except inputs.BadInput as exc:  # a NUL (refused at the boundary already; here for every other caller)
        raise InvalidInput(message, code=code) from exc


def _clean(fields: dict[str, str]) -> dict[str, object]:
    data = {
        key: _text(fields.get(key, ""), _("申请信息含有不允许的字符"), "application_invalid") for key in _TEXT_FIELDS
    }
    if not all(data.values()):
        raise InvalidInput(_("请完整填写申请信息"), code="application_incomplete")
    if not is_valid_uscc(data["uscc"].upper()):
        raise InvalidInput(_("统一社会信用代码无效"), code="invalid_uscc")
    too_long = [key for key, maximum in _TEXT_FIELDS.items() if len(data[key]) > maximum]
    if too_long:
        raise InvalidInput(
            _("申请信息过长：企业名称不超过 200 字，法定代表人和联系人不超过 50 字，收件地址不超过 300 字"),
            code="application_too_long",
        )
    phone = _text(fields.get("contact_phone", ""), _("请填写正确的联系电话"), "bad_phone")
    phone = phone.replace(" ", "").translate(_FULL_WIDTH)
    if not _PHONE.fullmatch(phone):
        raise InvalidInput(_("请填写正确的联系电话"), code="bad_phone")
    raw_count = fields.get("key_count") or "1"
    try:
        key_count = int(inputs.digits(raw_count)) if len(raw_count) <= 8 else 0
    except inputs.BadInput:
        key_count = 0
    if not 1 <= key_count <= MAX_KEYS:
        raise InvalidInput(_("Key 数量须为 1–20"), code="bad_key_count")
    return {
        "enterprise_name": data["enterprise_name"],
        "uscc": data["uscc"].upper(),
        "legal_representative": data["legal_representative"],
        "contact_name": data["contact_name"],
        "contact_phone": phone,
        "address": data["address"],
        "key_count": key_count,
    }


@transaction.atomic
def application_submit(
    *, enterprise: Enterprise, user: User, fields: dict[str, str], licence: UploadedFile | None
) -> Application:
    """Submit, or correct and resubmit a returned application. The licence scan is required the first time."""
    data = _clean(fields)
    if data["uscc"] != enterprise.uscc:
        raise InvalidInput(_("统一社会信用代码须与本企业一致"), code="uscc_mismatch")
    application = Application.objects.select_for_update().filter(enterprise=enterprise).first()
    if application is not None and application.status != ApplicationStatus.RETURNED:
        raise Conflict(_("申请已提交或已通过，无需重复提交"), code="application_exists")
    if licence is None and application is None:
        raise InvalidInput(_("请上传营业执照扫描件"), code="licence_missing")
    content_type = sniff_voucher_type(licence) if licence is not None else ""
    moment = now()
    values: dict[str, Any] = {**data, "submitted_by": user, "submitted_at": moment}
    if licence is not None:
        extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}[content_type]
        values["licence_content_type"] = content_type
    if application is None:
        application = Application(enterprise=enterprise, **values)
        if licence is not None:
            application.licence.save(f"{enterprise.uscc}.{extension}", licence, save=False)
        application.save()
        audit_record(
            action="application.submitted",
            subject=f"application:{application.pk}",
            actor=Actor("user", str(user.pk)),
            enterprise_id=enterprise.pk,
        )
        return application
    if licence is not None:
        application.licence.save(f"{enterprise.uscc}.{extension}", licence, save=False)
        values["licence"] = application.licence  # the stored file's name
    application_status_move(
        application=application,
        target=ApplicationStatus.SUBMITTED,
        actor=Actor("user", str(user.pk)),
        reason="",
        **values,
    )
    return application


def application_status_move(
    *, application: Application, target: ApplicationStatus, actor: Actor, reason: str = "", **fields: object
) -> None:
    """The one writer of ``Application.status`` (the caller holds its row lock): resubmit, approve, return."""
    ensure_transition(APPLICATION_TRANSITIONS, application.status, target)
    application.status, application.reason = target, reason
    for name, value in fields.items():
        setattr(application, name, value)
    application.save(update_fields=["status", "reason", *fields])
    audit_record(
        action=f"application.{target.value}",
        subject=f"application:{application.pk}",
        actor=actor,
        enterprise_id=application.enterprise_id,
        data={"reason": reason} if reason else None,
    )


def _review_target(application_id: int) -> Application:
    application = Application.objects.select_for_update().filter(pk=application_id).first()
    if application is None:
        raise NotFound(_("未找到该申请"), code="application_unknown")
    if application.status != ApplicationStatus.SUBMITTED:
        raise Conflict(_("该申请不是待审核状态"), code="application_not_submitted")
    return application


@transaction.atomic
def application_approve(*, application_id: int, reviewer: User) -> Application:
    application = _review_target(application_id)
    application_status_move(
        application=application,
        target=ApplicationStatus.APPROVED,
        actor=Actor("operator", str(reviewer.pk)),
        reviewed_by=reviewer,
        reviewed_at=now(),
    )
    notify(
        enterprise_id=application.enterprise_id,
        kind="application_approved",
        title=_("CA 办理申请已通过"),
        body=_("您的实体 CA 办理申请已审核通过，现在可以在「CA 新购」中购买实体 CA。"),
        link=reverse("orders:purchase"),
    )
    return application


@transaction.atomic
def application_return(*, application_id: int, reviewer: User, reason: str) -> Application:
    reason = reason.strip()
    if not reason or len(reason) > 200 or "\x00" in reason:
        raise InvalidInput(_("请填写退回原因（不超过 200 字）"), code="reason_required")
    application = _review_target(application_id)
    application_status_move(
        application=application,
        target=ApplicationStatus.RETURNED,
        actor=Actor("operator", str(reviewer.pk)),
        reason=reason,
        reviewed_by=reviewer,
        reviewed_at=now(),
    )
    notify(
        enterprise_id=application.enterprise_id,
        kind="application_returned",
        title=_("CA 办理申请被退回"),
        body=_("退回原因：{reason}。请修改后重新提交。").format(reason=reason),
        link=reverse("physical:apply"),
    )
    return application


def application_approved(enterprise_id: int) -> bool:
    return Application.objects.filter(enterprise_id=enterprise_id, status=ApplicationStatus.APPROVED).exists()


def shipment_create(*, order_no: str, enterprise_id: int) -> Shipment:
    """A paid physical-CA order: waiting for dispatch to the application's address (inside the payment's
    transaction; idempotent per order)."""
    existing = Shipment.objects.filter(order_no=order_no).first()
    if existing is not None:
        return existing
    application = Application.objects.get(enterprise_id=enterprise_id, status=ApplicationStatus.APPROVED)
    return Shipment.objects.create(
        order_no=order_no,
        enterprise_id=enterprise_id,
        address=application.address,
        contact_name=application.contact_name,
        contact_phone=application.contact_phone,
        key_count=application.key_count,
        created_at=now(),
    )


@transaction.atomic
def shipment_dispatch(*, shipment_id: int, operator: User, courier: str, tracking_no: str) -> Shipment:
    courier, tracking_no = courier.strip(), tracking_no.strip()
    if not courier or len(courier) > 50 or "\x00" in courier or not re.fullmatch(r"[A-Za-z0-9-]{6,40}", tracking_no):
        raise InvalidInput(_("请填写快递公司和正确的快递单号"), code="bad_tracking")
    shipment = Shipment.objects.select_for_update().filter(pk=shipment_id).first()
    if shipment is None:
        raise NotFound(_("未找到该发货单"), code="shipment_unknown")
    if shipment.dispatched_at is not None:
        raise Conflict(_("该订单已发货"), code="already_dispatched")
    if shipment.cancelled_at is not None:
        raise Conflict(_("该订单已取消，不能发货"), code="shipment_cancelled")
    shipment.courier, shipment.tracking_no = courier, tracking_no
    shipment.dispatched_at, shipment.dispatched_by = now(), operator
    shipment.save(update_fields=["courier", "tracking_no", "dispatched_at", "dispatched_by"])
    audit_record(
        action="shipment.dispatched",
        subject=f"order:{shipment.order_no}",
        actor=Actor("operator", str(operator.pk)),
        enterprise_id=shipment.enterprise_id,
        data={"courier": courier, "tracking_no": tracking_no},
    )
    notify(
        enterprise_id=shipment.enterprise_id,
        kind="physical_dispatched",
        title=_("实体 CA 已发货"),
        body=_("订单 {order} 的实体 CA 已由{courier}发出，快递单号 {tracking}。").format(
            order=shipment.order_no, courier=courier, tracking=tracking_no
        ),
        link=reverse("physical:apply"),
    )
    return shipment


def shipment_cancel(*, shipment_id: int, enterprise_id: int, user: User) -> Shipment:
    """The buyer cancels a paid physical-CA order that has not been dispatched: the order is cancelled and its
    payment waits in finance's refund list (refunded through the channel or offline)."""
    with transaction.atomic():
        shipment = Shipment.objects.select_for_update().filter(pk=shipment_id, enterprise_id=enterprise_id).first()
        if shipment is None:
            raise NotFound(_("未找到该发货单"), code="shipment_unknown")
        if shipment.dispatched_at is not None:
            raise Conflict(_("已发货的订单不能取消"), code="already_dispatched")
        if shipment.cancelled_at is not None:
            return shipment
        order = order_cancel(order_no=shipment.order_no, actor=Actor("user", str(user.pk)))
        shipment.cancelled_at = now()
        shipment.save(update_fields=["cancelled_at"])
        notify(
            enterprise_id=enterprise_id,
            kind="order_cancelled",
            title=_("订单已取消"),
            body=_("实体 CA 订单 {order} 已取消，¥{amount} 将退回原付款账户。").format(
                order=order.order_no, amount=order.amount
            ),
        )
    return shipment
