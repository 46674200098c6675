"""The CA, for the key-file back-end and for SoftHSM2 (PKCS#11):

* certificates issued per second (a credential's two certificates, database write and audit included) against
  ``cryptography``'s raw build+sign rate of the same certificate with an in-memory key;
* OCSP responses per second over HTTP (gunicorn, the production server, with two workers on loopback; a keep-alive
  client) against the raw OCSP response build+sign rate with an in-memory key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path

from _harness import django_setup, rate, report

ISSUE_N = 60
OCSP_N = 300
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"


def softhsm_token() -> str | None:
    if not Path(SOFTHSM).exists() or shutil.which("softhsm2-util") is None:
        return None
    directory = Path(tempfile.mkdtemp(prefix="mobileca-bench-hsm-"))
    (directory / "tokens").mkdir()
    (directory / "softhsm2.conf").write_text(
        f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(directory / "softhsm2.conf")
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "bench", "--so-pin", "12345678", "--pin", "1234"],  # noqa: S607
        check=True,
        capture_output=True,
    )
    return "bench"


def serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn on a free loopback port, with the same database and CA settings as this process."""
    import socket
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen(  # noqa: S603
        [
            str(root / ".venv/bin/gunicorn"),
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=root,
        env={**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}/pki/ocsp"
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/pki/chain.pem", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return server, url


def measure(name: str, env: dict[str, str], subject: object, keys: list[tuple[object, object]]) -> None:
    import httpx
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509 import ocsp

    from mobileca.ca.backends.factory import backend
    from mobileca.ca.models import Authority
    from mobileca.ca.profiles import entity_certificate, root_certificate
    from mobileca.ca.services import ca_init, certificate_of, credential_issue
    from mobileca.core.clock import now

    Authority.objects.update(is_active=False)  # a fresh hierarchy in this back-end
    _root, issuing = ca_init(key_backend=backend())
    issuer = certificate_of(issuing)

    def issue() -> None:
        for index, (sign_key, encrypt_key) in enumerate(keys):
            credential_issue(
                owner_id=f"{name}-{index}",
                subject=subject,
                sign_public_key=sign_key,  # type: ignore[arg-type]
                encrypt_public_key=encrypt_key,
                valid_days=365,
            )  # type: ignore[arg-type]

    issued_rate = rate(2 * len(keys), issue)
    # The raw floor: the same profile built and signed by cryptography with an in-memory key, no database.
    raw_key = ec.generate_private_key(ec.SECP256R1())
    raw_issuer = root_certificate(key=raw_key, public_key=raw_key.public_key(), now=now())

    def raw_issue() -> None:
        for sign_key, encrypt_key in keys:
            for usage, public_key in (("sign", sign_key), ("encrypt", encrypt_key)):
                entity_certificate(
                    issuer_key=raw_key,
                    issuer=raw_issuer,
                    subject=subject,
                    usage=usage,  # type: ignore[arg-type]
                    public_key=public_key,
                    not_before=now(),
                    not_after=now() + timedelta(days=365),
                )  # type: ignore[arg-type]

    report(f"certificates_issued_{name}", issued_rate, "certs/s", rate(2 * len(keys), raw_issue))

    leaf = certificate_of(issuing.issued.order_by("pk").first())  # type: ignore[arg-type]
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, issuer, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    server, url = serve(env)
    try:
        with httpx.Client(timeout=10) as client:

            def ask() -> None:
                for _ in range(OCSP_N):
                    response = client.post(url, content=der, headers={"Content-Type": "application/ocsp-request"})
                    assert response.status_code == 200

            ask()  # warm both workers (imports, key loading)
            ocsp_rate = rate(OCSP_N, ask)
    finally:
        server.terminate()
        server.wait(timeout=10)

    def raw_ocsp() -> None:
        for _ in range(OCSP_N):
            moment = now()
            ocsp.OCSPResponseBuilder().add_response(
                cert=leaf,
                issuer=issuer,
                algorithm=hashes.SHA256(),
                cert_status=ocsp.OCSPCertStatus.GOOD,
                this_update=moment,
                next_update=moment + timedelta(hours=1),
                revocation_time=None,
                revocation_reason=None,
            ).responder_id(ocsp.OCSPResponderEncoding.HASH, raw_issuer).sign(raw_key, hashes.SHA256())

    report(f"ocsp_responses_http_{name}", ocsp_rate, "responses/s", rate(OCSP_N, raw_ocsp))


def main() -> None:
    var_dir = django_setup()
    token = softhsm_token()
    from django.conf import settings

    from mobileca.ca.keys import generate_user_key
    from mobileca.ca.profiles import Subject

    subject = Subject(enterprise_name="基准测试企业", uscc="91360200MA35A1B20J", claimant_name="张三")
    keys = [(generate_user_key().public_key(), generate_user_key().public_key()) for _ in range(ISSUE_N)]
    backends = [
        (
            "keyfile",
            {
                "MOBILECA_CA_BACKEND": "keyfile",
                "MOBILECA_CA_KEY_DIR": str(var_dir / "ca"),
                "MOBILECA_CA_PASSPHRASE": "bench passphrase 123",
            },
        )
    ]
    if token:
        backends.append(
            (
                "softhsm",
                {
                    "MOBILECA_CA_BACKEND": "pkcs11",
                    "MOBILECA_PKCS11_LIBRARY": SOFTHSM,
                    "MOBILECA_PKCS11_TOKEN": token,
                    "MOBILECA_PKCS11_PIN": "1234",
                },
            )
        )
    for name, env in backends:
        # This process and the server it starts use the same back-end and database.
        settings.MOBILECA_CA = {
            **settings.MOBILECA_CA,
            "backend": env["MOBILECA_CA_BACKEND"],
            "key_dir": Path(env.get("MOBILECA_CA_KEY_DIR", str(var_dir / "ca"))),
            "passphrase": env.get("MOBILECA_CA_PASSPHRASE"),
            "pkcs11_library": env.get("MOBILECA_PKCS11_LIBRARY", SOFTHSM),
            "pkcs11_token": env.get("MOBILECA_PKCS11_TOKEN", ""),
            "pkcs11_pin_secret": env.get("MOBILECA_PKCS11_PIN"),
        }
        measure(name, env, subject, keys)


if __name__ == "__main__":
    main()
