"""The error hierarchy.

::

    Exception
    ├── ApplicationError            a refusal the user can act on: stable code, HTTP status, message
    │   ├── InvalidInput            400  the request itself is malformed or tampered with
    │   ├── NotFound                404  absent, or belongs to someone else (never say which)
    │   ├── PermissionDenied        403  the actor may not do this
    │   └── Conflict                409  the object's state forbids it now
    │       └── InvalidTransition        a state machine has no such edge
    └── GatewayError                an external system failed; the cause is logged, not shown
        ├── RetryableGatewayError        timeouts, 5xx, connection resets: try again later
        └── FinalGatewayError            the peer said no, or answered something we cannot trust

``message`` is what a person reads (Chinese on pages, code + message in the API); ``detail`` is for the log only.
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


class GatewayError(Exception):
    """An external system failed. Never shown verbatim to a user."""


class RetryableGatewayError(GatewayError):
    pass


class FinalGatewayError(GatewayError):
    pass
