"""Owner-only storage for everything under ``var/`` (issue 14).

The SQLite file holds sessions, PIN hashes and wrapped keys; the job queue, the secret key, the demo keys, the CA's
sealed keys and the private media (vouchers, licences, bid ciphertexts) sit beside it. None of it is for other users
of the machine: files are 0600 and folders 0700.

Two halves:
* ``owner_only_umask()`` sets the process umask to 077 once, from ``config.settings`` — the one module every process
  imports first (gunicorn's workers, the job worker, every management command, the tests) — so every file that any
  code creates later (SQLite and its WAL, Huey's queue, uploads written by Django or by our own streaming writers)
  is born owner-only, whatever the code that creates it remembers to do.
* ``tighten()`` walks trees that already exist (an installation from before this change) and takes group and other
  permissions away, without following symbolic links and without touching anything owned by someone else.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

OWNER_ONLY_UMASK = 0o077
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def owner_only_umask() -> None:
    """Group and others get nothing on any file this process creates from now on."""
    os.umask(OWNER_ONLY_UMASK)


def _tighten_one(path: str, *, directory: bool) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
        return
    current = stat.S_IMODE(info.st_mode)
    wanted = DIRECTORY_MODE if directory else (current & 0o700) | FILE_MODE
    if current != wanted:
        os.chmod(path, wanted)  # not a link (checked above), so this changes the entry itself


def tighten(roots: Iterable[Path]) -> None:
    """Every folder under each root 0700, every file 0600 (an executable bit the owner had is kept)."""
    for root in roots:
        if not root.exists() or root.is_symlink():
            continue
        if root.is_file():
            _tighten_one(str(root), directory=False)
            continue
        _tighten_one(str(root), directory=True)
        for folder, folders, files in os.walk(root, followlinks=False):
            for name in folders:
                _tighten_one(os.path.join(folder, name), directory=True)
            for name in files:
                _tighten_one(os.path.join(folder, name), directory=False)
