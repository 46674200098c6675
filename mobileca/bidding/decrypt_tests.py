"""「解密测试」 (issue 21): before the deadline, the opening's decryption and checks of a sealed bid, keeping nothing —
authorised with the PIN on the claimant's phone like the opening, the ciphertext decrypted streaming into cmslib's
discarding sink (no file, no temporary), the GCM tag (or for SM4-CBC the SM3 the verified signature states) and the
signature checked; only the outcome is recorded (``DecryptTest``, audit ``bid.decrypt_test``). It never counts as
opening the bid: the bid's status and opening fields are not touched."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mobileca.audit.services import Actor, audit_record
from mobileca.bidding import services
from mobileca.bidding.models import Bid, BidStatus, DecryptTest
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict
from mobileca.shield import facade as shield


def decrypt_test_request(*, bid: Bid, address: str | None) -> DecryptTest:
    """Before the deadline: ask the claimant (PIN on the phone, like the opening) to authorise a test decryption of
    exactly this envelope. The bid itself is not touched."""
    if bid.status != BidStatus.SUBMITTED:
        raise Conflict(_("只有已递交的投标文件可以做解密测试"), code="bid_not_testable")
    if now() >= bid.tender.bid_deadline:
        raise Conflict(_("已过投标截止时间，不能再做解密测试"), code="deadline_passed")
    pending = services.envelope_authorization(
        bid, purpose=_("解密测试：{project}").format(project=bid.tender.project_no), address=address
    )
    return DecryptTest.objects.create(
        bid=bid, started_at=now(), authorization_handle=pending.handle, authorization_url=pending.url
    )


def _finish(test: DecryptTest, code: str = "", message: str = "") -> DecryptTest:
    with transaction.atomic():
        test = DecryptTest.objects.select_for_update().select_related("bid").get(pk=test.pk)
        if test.outcome != "pending":
            return test
        test.outcome, test.failure_code, test.failure_message = ("failed" if code else "passed"), code, message[:300]
        test.finished_at = now()
        test.save(update_fields=["outcome", "failure_code", "failure_message", "finished_at"])
        audit_record(
            action="bid.decrypt_test",
            subject=f"bid:{test.bid_id}",
            actor=Actor("system", "bidding"),
            enterprise_id=test.bid.enterprise_id,
            data={"outcome": test.outcome, "failure_code": code},
        )
    return test


_FAILURES = {
    "signature_invalid": gettext_lazy("解密测试失败：签名无效，无法确认文件是否被篡改（SM4-CBC）"),
    "tampered": gettext_lazy("解密测试失败：密文认证失败，文件已损坏或被篡改，请在截止前重新上传"),
    "bad_bid_file": gettext_lazy("解密测试失败：投标文件不完整或格式无效，请在截止前重新上传"),
}


def decrypt_test_follow(test: DecryptTest, *, address: str | None = None) -> DecryptTest:
    """Once approved: the content key, the ciphertext decrypted streaming with the plaintext discarded chunk by
    chunk (``cmslib``'s sink: no file, no temporary), the GCM tag (or for SM4-CBC the SM3 the verified signature
    states) and the signature checked. Only the outcome is kept."""
    if test.outcome != "pending":
        return test
    bid = test.bid
    try:
        sad = shield.authorization_sad(handle=test.authorization_handle)
        if not sad:
            return test
        key = shield.content_key(service_no=bid.service_no, sad=sad, envelope=bytes(bid.header), address=address)
    except ApplicationError as exc:
        if exc.code == "sad_delivered":
            return test
        return _finish(test, exc.code, exc.message)
    try:  # no target: the plaintext is discarded as it is decrypted, nothing is written anywhere
        tested = services.decrypt_and_verify(bid, key, None)
    except services.Undecryptable as exc:
        return _finish(test, exc.code, str(_FAILURES[exc.code]))
    if not tested.signature_valid:
        message = _("解密测试失败：签名无效：{message}").format(message=tested.message)
        return _finish(test, "signature_invalid", message)
    return _finish(test)
