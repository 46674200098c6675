"""Uploaded vouchers (remittances, reverse transfers): the type is read from the file's first bytes, not from its
name or the browser's word; files are kept outside any public URL."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from mobileca.core.errors import InvalidInput


class PrivateStorage(FileSystemStorage):
    """Files outside any public URL. The root is read from settings at each use, not frozen at import."""

    @property
    def base_location(self) -> str:
        return str(settings.PRIVATE_MEDIA_ROOT)

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)


def private_storage() -> FileSystemStorage:
    return PrivateStorage()


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def sniff_voucher_type(upload: UploadedFile) -> str:
    size = upload.size or 0
    if size == 0:
        raise InvalidInput(_("请选择要上传的凭证文件"), code="voucher_empty")
    limit = settings.MOBILECA_VOUCHER_MAX_BYTES
    if size > limit:
        raise InvalidInput(
            _("凭证文件不能超过 {size} MB").format(size=limit // (1024 * 1024)), code="voucher_too_large"
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    for magic, content_type in _SIGNATURES:
        if head.startswith(magic):
            return content_type
    raise InvalidInput(_("凭证只支持 PDF、JPEG、PNG 格式"), code="voucher_type")
