"""CA fixtures: the same tests run with the key-file back-end and with SoftHSM2 (PKCS#11)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobileca.ca.backends.factory import backend
from mobileca.ca.models import Authority
from mobileca.ca.services import ca_init

SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN, PIN = "mobileca-test", "246810"


@pytest.fixture(scope="session")
def softhsm_token() -> Iterator[str]:
    """One SoftHSM2 token for the session (the PKCS#11 library is initialised once per process)."""
    if not Path(SOFTHSM_LIBRARY).exists() or shutil.which("softhsm2-util") is None:
        if os.environ.get("MOBILECA_SKIP_HSM") == "1":
            pytest.skip("SoftHSM2 missing and MOBILECA_SKIP_HSM=1")
        pytest.fail(
            "SoftHSM2 not installed: run `apt-get install softhsm2` (or set MOBILECA_SKIP_HSM=1)", pytrace=False
        )
    directory = Path(tempfile.mkdtemp(prefix="mobileca-softhsm-"))
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(  # noqa: S603 - fixed arguments
        ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", "13579135", "--pin", PIN],  # noqa: S607
        check=True,
        capture_output=True,
    )
    yield TOKEN
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=["keyfile", "softhsm"])
def ca_backend(request: pytest.FixtureRequest, settings, tmp_path: Path) -> str:
    # A dotted host: RFC 3986 allows "testserver", but pkilint (rightly for public URLs) wants a domain name.
    settings.MOBILECA_PUBLIC_URL = "http://pki.mobileca.test"
    conf = {**settings.MOBILECA_CA, "key_dir": tmp_path / "ca", "passphrase": "test passphrase 1234"}
    if request.param == "softhsm":
        conf.update(
            backend="pkcs11",
            pkcs11_library=SOFTHSM_LIBRARY,
            pkcs11_token=request.getfixturevalue("softhsm_token"),
            pkcs11_pin_secret=PIN,
        )
    settings.MOBILECA_CA = conf
    return str(request.param)


@pytest.fixture
def ca(ca_backend: str, db: None) -> tuple[Authority, Authority]:
    return ca_init(key_backend=backend())
