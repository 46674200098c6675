"""Shared set-up for the benchmarks: a throw-away SQLite installation and the one output format.

Each figure is printed as ``BENCH <name> <value> <unit> baseline=<raw value> ratio=<value/baseline>``, the baseline
being the same work done the rawest way on this machine, measured in the same run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_setup() -> Path:
    sys.path.insert(0, str(ROOT))
    var_dir = Path(tempfile.mkdtemp(prefix="mobileca-bench-"))
    os.environ["MOBILECA_VAR_DIR"] = str(var_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["HUEY_IMMEDIATE"] = "1"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return var_dir


def rate(count: int, work: Callable[[], None]) -> float:
    """Operations per second for ``work``, which performs ``count`` operations."""
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def report(name: str, value: float, unit: str, baseline: float) -> None:
    print(f"BENCH {name} {value:.1f} {unit} baseline={baseline:.1f} ratio={value / baseline:.3f}", flush=True)
