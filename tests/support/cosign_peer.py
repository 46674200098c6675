"""BouncyCastle (Debian's libbcprov-java, written by nobody here) as the peer of two-party SM2 (issue 20):
``tests/java/CosignCheck.java`` compiled once per module and fed one check per line (``<label> verify <spki>
<message> <sig>``, …); each answer comes back under its label. Skipped with the reason when Java or the jars are
missing."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

CHECKER = Path(__file__).parent.parent / "java" / "CosignCheck.java"
JARS = [Path("/usr/share/java") / name for name in ("bcprov.jar", "bcpkix.jar", "bcutil.jar")]


@pytest.fixture(scope="module")
def bouncycastle(tmp_path_factory: pytest.TempPathFactory) -> Callable[[list[str]], dict[str, str]]:
    """``run(["<label> verify <spki> <message> <sig>", …])`` → ``{label: answer}``."""
    missing = [tool for tool in ("java", "javac") if shutil.which(tool) is None]
    missing += [str(jar) for jar in JARS if not jar.exists()]
    if missing:
        pytest.skip(f"BouncyCastle peer unavailable (missing: {', '.join(missing)})")
    classes = tmp_path_factory.mktemp("cosigncheck")
    classpath = ":".join(str(jar) for jar in JARS)
    compiled = subprocess.run(  # noqa: S603
        ["javac", "-d", str(classes), "-cp", classpath, str(CHECKER)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stderr

    def run(checks: list[str]) -> dict[str, str]:
        result = subprocess.run(  # noqa: S603
            ["java", "-cp", f"{classpath}:{classes}", "CosignCheck"],  # noqa: S607
            input="\n".join(checks) + "\n",
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        said = dict(line.split(" ", 1) for line in result.stdout.splitlines())
        assert len(said) == len(checks), result.stdout
        return said

    return run
