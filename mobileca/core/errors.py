"""The error hierarchy.

Two branches: a refusal the person can act on, and an external system (a gateway, a provider, the key store) that
failed. Classes in brackets live beside the code that raises them; the drawing is checked against the code.

::

    Exception
    ├── ApplicationError              400  a refusal the user can act on: stable code, HTTP status, message
    │   ├── InvalidInput              400  the request itself is malformed or tampered with
    │   ├── NotFound                  404  absent, or belongs to someone else (never say which)
    │   ├── PermissionDenied          403  the actor may not do this
    │   ├── Conflict                  409  the object's state forbids it now
    │   │   └── InvalidTransition     409  a state machine has no such edge
    │   ├── TooLarge                  413  the request is bigger than anything the platform accepts
    │   └── TooMany                   429  the same thing was asked too often; try again later
    └── GatewayError                       an external system failed; the cause is logged, not shown
        ├── RetryableGatewayError          timeouts, 5xx, connection resets: the same call may succeed later
        │   └── KeyBackendError            [ca.backends] the key file or PKCS#11 token is unavailable or refuses
        │       └── UnwrapError            [ca.backends] a wrapped key does not open for this owner
        └── FinalGatewayError              the peer said no, or answered what we cannot trust: do not repeat
            ├── AnswerRefused              [shield.providers] a provider's signed answer failed a check
            │   └── IdentityRefused        [shield.identity] the phone identity's assertion did
            ├── SignatureInvalid           [payments.gateways.signing] a payment gateway's signature does not verify
            │   └── StaleMessage           [payments.gateways.signing] signed, but outside the freshness window
            ├── MalformedMessage           [payments.gateways.signing] signed, but not what the gateway documents
            │   └── BadAmount              [payments.gateways.signing] an amount not written as the gateway documents
            ├── AlipayError                [payments.gateways.alipay] Alipay answered a business error
            └── WeChatPayError             [payments.gateways.wechatpay] WeChat Pay answered an error

An ``ApplicationError`` has a stable ``code``, an HTTP ``status`` and a ``message`` a person reads (Chinese on
pages, code + message in the API); its ``detail`` is for the log only. A ``GatewayError`` says whether it is
``retryable`` (a job tries again at its next run; a person is asked to try again later); its text is for the log
only (the payment gateways' errors carry the gateway's own ``code`` beside it).
"""

from __future__ import annotations

from typing import ClassVar

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy


class ApplicationError(Exception):
    code: ClassVar[str] = "application_error"
    status: ClassVar[int] = 400
    default_message: ClassVar[str | Promise] = gettext_lazy("请求无法完成")

    def __init__(self, message: str | None = None, *, code: str | None = None, detail: str = "") -> None:
        self.message = message or str(self.default_message)
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.detail = detail
        super().__init__(self.message)


class InvalidInput(ApplicationError):
    code = "invalid_input"
    status = 400
    default_message = gettext_lazy("提交的信息有误，请检查后重试")


class NotFound(ApplicationError):
    code = "not_found"
    status = 404
    default_message = gettext_lazy("未找到对应的记录")


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status = 403
    default_message = gettext_lazy("您没有权限执行此操作")


class Conflict(ApplicationError):
    code = "conflict"
    status = 409
    default_message = gettext_lazy("当前状态不允许此操作")


class InvalidTransition(Conflict):
    code = "invalid_transition"


class TooLarge(ApplicationError):
    code = "too_large"
    status = 413
    default_message = gettext_lazy("提交的内容过大")


class TooMany(ApplicationError):
    """A rate limit (``core.limits``) was reached; ``retry_after`` seconds is when the window ends."""

    code = "rate_limited"
    status = 429
    default_message = gettext_lazy("操作过于频繁，请稍后再试")

    def __init__(self, message: str | None = None, *, retry_after: int = 60, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class GatewayError(Exception):
    """An external system failed. Never shown verbatim to a user."""

    retryable: ClassVar[bool] = False


class RetryableGatewayError(GatewayError):
    retryable = True


class FinalGatewayError(GatewayError):
    retryable = False
