"""The OCSP responses' cache when no Redis is configured: Django's file cache, shared by every process of the
host, without its culling (which lists the whole folder on every write): entries expire with their response's
``nextUpdate`` and are rewritten by the periodic job, so their number stays two per unexpired certificate."""

from __future__ import annotations

from django.core.cache.backends.filebased import FileBasedCache


class SharedFileCache(FileBasedCache):
    def _cull(self) -> None:
        return None
