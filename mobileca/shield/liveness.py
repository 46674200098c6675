"""Face liveness: a check opened server to server for a person, played on the phone, its result fetched signed and
bound to our client id, the check's nonce, the time, the check and the person."""

from __future__ import annotations

from dataclasses import dataclass

from mobileca.core.errors import FinalGatewayError
from mobileca.shield.providers import call, ensure_status, get_signed, provider


@dataclass(frozen=True)
class OpenedCheck:
    check_id: str
    url: str


def open_check(*, name: str, resident_id: str, nonce: str) -> OpenedCheck:
    liveness = provider("liveness")
    response = call(
        liveness,
        "POST",
        liveness.url("/v1/checks"),
        json={
            "name": name,
            "resident_id": resident_id.upper(),  # as the result must name the person (an ID's check letter is X)
            "nonce": nonce,
            "return_url": liveness.conf["return_url"],
        },
        headers=liveness.bearer(),
    )
    ensure_status(liveness, response, what="opening a check")
    try:
        data = response.json()
        return OpenedCheck(check_id=str(data["check_id"]), url=str(data["url"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise FinalGatewayError("liveness provider answered nonsense") from exc


def fetch_result(*, check_id: str, nonce: str, resident_id: str) -> bool:
    """True for a signed "passed" of this check and this person, False for its signed "failed" (or not yet played);
    an answer that does not verify, or is about another check, login or person, raises ``AnswerRefused``."""
    liveness = provider("liveness")
    claims = get_signed(
        liveness,
        f"/v1/checks/{check_id}",
        header="X-Liveness-Signature",
        nonce=nonce,
        about={"check_id": check_id, "resident_id": resident_id.upper()},
        headers=liveness.bearer(),
    )
    return claims.get("outcome") == "passed"
