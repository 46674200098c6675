"""OAuth 2.0 as CSC API v2 §8.4 profiles it (issue 17), judged by a standard client nobody here wrote (authlib's
httpx ``OAuth2Client``) over HTTP, form-encoded as RFC 6749 has it: the client-credentials grant of a platform
(HTTP Basic and form authentication), the authorisation code with PKCE S256 approved on the phone (scope service
with refresh-token rotation, scope credential whose token signs exactly the approved hash once), revocation
(RFC 7009), and each refusal a clear OAuth error with nothing issued."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from django.test import Client

from mobileca.audit.models import AuditEvent
from mobileca.ca import facade as ca_facade
from mobileca.cards.models import Card
from mobileca.core.clock import clock, now
from mobileca.shield import callers, oauth
from mobileca.shield.models import (
    Credential,
    KeyUseAuthorization,
    OAuthGrant,
    OAuthToken,
    OperationRecord,
)
from tests.support.oauth import platform_client
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    activated_credential,
    ca_ready,
    card,
    phone_login,
    registered,
)
from tests.transport import DjangoTestTransport

REDIRECT = "http://127.0.0.1/callback"  # a native app's loopback redirect: any port (RFC 8252 §7.3)
TOKEN = "/csc/v2/oauth2/token"
AUTHORIZE = "/csc/v2/oauth2/authorize"
REVOKE = "/csc/v2/oauth2/revoke"


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _b64url(standard: str) -> str:
    return standard.replace("+", "-").replace("/", "_").rstrip("=")


# --- the two ways to reach the server: a live server (real sockets), or in-process through the test client -------


class Server:
    """Where the standard client talks to, and how the desktop browser (cookies kept) opens pages there."""

    def __init__(self, base: str, transport: httpx.BaseTransport | None = None) -> None:
        self.base = base
        self.transport = transport

    def client(self, **kwargs: Any) -> OAuth2Client:
        extra = {"transport": self.transport} if self.transport else {}
        return OAuth2Client(code_challenge_method="S256", **kwargs, **extra)

    def browser(self) -> httpx.Client:
        extra = {"transport": self.transport} if self.transport else {}
        return httpx.Client(base_url=self.base, headers={"Accept": "text/html"}, **extra)


@pytest.fixture
def live(live_server: Any) -> Server:
    return Server(live_server.url)


@pytest.fixture
def local(db: None) -> Server:
    return Server("http://testserver", DjangoTestTransport())


@pytest.fixture
def credential(registered: Card, ca_ready: None) -> Credential:
    return activated_credential(registered)


def _app(public: bool = False) -> tuple[str, str]:
    app, secret = oauth.app_create(name="桌面签章工具", redirect_uris=[REDIRECT], public=public)
    return app.client_id, secret


def _issued() -> int:
    return OAuthToken.objects.count()


# --- the phone's side: the claimant signs in and decides -----------------------------------------------------------


def _ref(location: str) -> str:
    path = urlsplit(location).path
    assert path.startswith("/h5/oauth/"), location
    return path.split("/")[3]


def _ask(server: Server, client: OAuth2Client, browser: httpx.Client, **params: str) -> tuple[str, str, str]:
    """The application sends the desktop browser to the authorisation URL; the browser lands on the page that
    shows the QR code. Returns (grant ref, state, code_verifier)."""
    verifier = secrets.token_urlsafe(48)
    url, state = client.create_authorization_url(server.base + AUTHORIZE, code_verifier=verifier, **params)
    assert "code_challenge_method=S256" in url
    landed = browser.get(url)
    assert landed.status_code == 302, landed.text
    ref = _ref(landed.headers["Location"])
    page = browser.get(landed.headers["Location"])
    assert page.status_code == 200 and 'id="oauth-scan"' in page.text and "<svg" in page.text  # the QR code
    assert browser.get(f"/h5/oauth/{ref}/status/").json() == {"status": "pending"}
    return ref, state, verifier


def _approve(ref: str, pin: str | None = None, account: str = LEGAL_REP) -> tuple[Client, Any]:
    phone = phone_login(account, next_page=f"/h5/oauth/{ref}/")
    page = phone.get(f"/h5/oauth/{ref}/").content.decode()
    assert 'id="oauth-allow"' in page
    answer = phone.post(f"/h5/oauth/{ref}/", {"decision": "allow", **({"pin": pin} if pin is not None else {})})
    return phone, answer


def _back_to_app(browser: httpx.Client, ref: str) -> str:
    """The desktop page sees the phone's answer and goes on to the application's redirect URI."""
    assert browser.get(f"/h5/oauth/{ref}/status/").json()["status"] in ("allowed", "denied")
    done = browser.get(f"/h5/oauth/{ref}/done/")
    assert done.status_code == 302, done.text
    return str(done.headers["Location"])


def _code_flow(server: Server, client: OAuth2Client, pin: str | None = None, **params: str) -> tuple[str, str]:
    """Authorisation request → phone approval → the redirect URI with code and state. Returns (callback, verifier)."""
    with server.browser() as browser:
        ref, state, verifier = _ask(server, client, browser, **params)
        _, answer = _approve(ref, pin)
        assert answer.status_code == 302, answer.content.decode()
        callback = _back_to_app(browser, ref)
    query = parse_qs(urlsplit(callback).query)
    assert callback.startswith("http://127.0.0.1:8765/callback?") and query["state"] == [state]
    return callback, verifier


# --- platforms: client credentials ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_a_platform_gets_a_token_by_client_credentials_and_calls_the_api_with_it(
    live: Server, credential: Credential, method: str
) -> None:
    client_id, secret = platform_client(credential.claim.platform)
    with live.client(client_id=client_id, client_secret=secret, token_endpoint_auth_method=method) as client:
        token = client.fetch_token(live.base + TOKEN, grant_type="client_credentials")
        assert token["token_type"] == "Bearer" and token["scope"] == "service" and token["expires_in"] == 3600
        assert "refresh_token" not in token  # RFC 6749 §4.4.3
        listed = client.post(live.base + "/csc/v2/credentials/list", json={})
    assert listed.status_code == 200 and listed.json()["credentialIDs"] == [credential.service_no]
    row = OAuthToken.objects.get()
    assert row.token_digest == callers.digest(token["access_token"]) and token["access_token"] not in str(
        list(OAuthToken.objects.values_list())
    )
    assert AuditEvent.objects.filter(action="oauth.token_issued", subject=f"oauth_client:{client_id}").exists()
    # the secret itself is no bearer token
    as_bearer = Client().post(
        "/csc/v2/credentials/list", "{}", "application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert (as_bearer.status_code, as_bearer.json()["error"]) == (401, "invalid_token")


def test_a_wrong_secret_is_invalid_client_401_with_basic_and_400_in_the_form_and_nothing_is_issued(
    local: Server,
) -> None:
    client_id, _secret = platform_client("阳光采购平台")
    with (
        local.client(
            client_id=client_id, client_secret="mcp_wrong", token_endpoint_auth_method="client_secret_basic"
        ) as c,
        pytest.raises(OAuthError) as basic,
    ):
        c.fetch_token(local.base + TOKEN, grant_type="client_credentials")
    assert basic.value.error == "invalid_client"
    with httpx.Client(transport=local.transport) as raw:
        response = raw.post(
            local.base + TOKEN, data={"grant_type": "client_credentials"}, auth=(client_id, "mcp_wrong")
        )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    with (
        local.client(
            client_id=client_id, client_secret="mcp_wrong", token_endpoint_auth_method="client_secret_post"
        ) as c,
        pytest.raises(OAuthError) as refused,
    ):
        c.fetch_token(local.base + TOKEN, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    unknown_client = local.client(
        client_id="pl_unknown", client_secret="x", token_endpoint_auth_method="client_secret_post"
    )
    with unknown_client as c, pytest.raises(OAuthError) as unknown:
        c.fetch_token(local.base + TOKEN, grant_type="client_credentials")
    assert unknown.value.error == "invalid_client"
    assert _issued() == 0
    # refusals naming a registered client are audited (not the unknown client's: anyone could send those)
    assert AuditEvent.objects.filter(action="oauth.token_refused").count() == 3


def test_unsupported_grants_missing_parameters_and_wrong_scopes_are_refused_and_issue_nothing(local: Server) -> None:
    client_id, secret = platform_client("阳光采购平台")
    app_id, app_secret = _app()
    form = "application/x-www-form-urlencoded"
    cases = [
        (
            {"grant_type": "password", "username": "a", "password": "b", "client_id": client_id},
            "unsupported_grant_type",
        ),
        ({"client_id": client_id, "client_secret": secret}, "invalid_request"),  # no grant_type
        ({"grant_type": "client_credentials"}, "invalid_request"),  # no client at all
        (
            {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "scope": "credential",
            },
            "invalid_scope",
        ),
        ({"grant_type": "authorization_code", "client_id": app_id, "client_secret": app_secret}, "invalid_request"),
        (
            {"grant_type": "authorization_code", "client_id": app_id, "client_secret": app_secret, "code": "x"},
            "invalid_request",
        ),
        ({"grant_type": "refresh_token", "client_id": app_id, "client_secret": app_secret}, "invalid_request"),
        (
            {
                "grant_type": "authorization_code",
                "client_id": client_id,
                "client_secret": secret,
                "code": "x",
                "code_verifier": "y",
            },
            "unauthorized_client",
        ),
        ({"grant_type": "client_credentials", "client_id": app_id, "client_secret": app_secret}, "unauthorized_client"),
    ]
    for params, error in cases:
        response = Client().post(TOKEN, urlencode(params), content_type=form)
        assert (response.status_code, response.json()["error"]) == (400, error), (params, response.content)
        assert response.json()["error_description"] and response["Cache-Control"] == "no-store"
    both = Client().post(
        TOKEN,
        urlencode({"grant_type": "client_credentials", "client_secret": secret}),
        content_type=form,
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode(),
    )
    assert (both.status_code, both.json()["error"]) == (400, "invalid_request")  # two methods (RFC 6749 §2.3)
    assert _issued() == 0


# --- the claimant's application: authorisation code + PKCE, scope service ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_public_native_app_gets_a_service_token_on_the_phone_and_refresh_tokens_rotate(
    live: Server, credential: Credential
) -> None:
    client_id, secret = _app(public=True)
    assert secret == ""
    redirect = "http://127.0.0.1:8765/callback"
    with live.client(
        client_id=client_id, token_endpoint_auth_method="none", redirect_uri=redirect, scope="service"
    ) as app:
        callback, verifier = _code_flow(live, app)
        token = app.fetch_token(live.base + TOKEN, authorization_response=callback, code_verifier=verifier)
        assert token["scope"] == "service" and token["expires_in"] == 3600 and token["refresh_token"]
        listed = app.post(live.base + "/csc/v2/credentials/list", json={})
        assert listed.json()["credentialIDs"] == [credential.service_no]  # the claimant's own credentials

        first_refresh = token["refresh_token"]
        rotated = app.refresh_token(live.base + TOKEN, refresh_token=first_refresh)
        assert rotated["refresh_token"] != first_refresh and rotated["access_token"] != token["access_token"]
        assert app.post(live.base + "/csc/v2/credentials/list", json={}).status_code == 200
        issued = _issued()

        with pytest.raises(OAuthError) as reused:  # the old refresh token again: refused, its family revoked
            app.refresh_token(live.base + TOKEN, refresh_token=first_refresh)
        assert reused.value.error == "invalid_grant" and _issued() == issued
        assert app.post(live.base + "/csc/v2/credentials/list", json={}).status_code == 401  # rotated access token
        with pytest.raises(OAuthError):
            app.refresh_token(live.base + TOKEN, refresh_token=rotated["refresh_token"])
    assert OAuthToken.objects.filter(revoked_at__isnull=True).count() == 0
    assert AuditEvent.objects.filter(action="oauth.tokens_revoked", data__reason="refresh_token_reused").exists()
    record = OperationRecord.objects.get(action="oauth_grant")
    assert record.account == LEGAL_REP and record.platform == "桌面签章工具"


def test_the_code_is_single_use_and_its_reuse_revokes_what_it_issued(local: Server, credential: Credential) -> None:
    client_id, secret = _app()
    with local.client(client_id=client_id, client_secret=secret, redirect_uri="http://127.0.0.1:8765/callback") as app:
        callback, verifier = _code_flow(local, app)
        token = app.fetch_token(local.base + TOKEN, authorization_response=callback, code_verifier=verifier)
        assert app.post(local.base + "/csc/v2/credentials/list", json={}).status_code == 200
        with pytest.raises(OAuthError) as again:
            app.fetch_token(local.base + TOKEN, authorization_response=callback, code_verifier=verifier)
        assert again.value.error == "invalid_grant"
        assert app.post(local.base + "/csc/v2/credentials/list", json={}).status_code == 401
        with pytest.raises(OAuthError):
            app.refresh_token(local.base + TOKEN, refresh_token=token["refresh_token"])
    assert _issued() == 2 and OAuthToken.objects.filter(revoked_at__isnull=True).count() == 0
    assert OAuthGrant.objects.get().status == "revoked"


@pytest.mark.parametrize(
    "spoil",
    ["verifier", "redirect_uri", "expired", "other_client"],
)
def test_a_code_with_a_wrong_verifier_redirect_uri_client_or_age_is_invalid_grant_and_issues_nothing(
    local: Server, credential: Credential, spoil: str
) -> None:
    client_id, secret = _app()
    with local.client(client_id=client_id, client_secret=secret, redirect_uri="http://127.0.0.1:8765/callback") as app:
        callback, verifier = _code_flow(local, app)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    params = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": "http://127.0.0.1:8765/callback",
        "client_id": client_id,
        "client_secret": secret,
    }
    if spoil == "verifier":
        params["code_verifier"] = secrets.token_urlsafe(48)
    elif spoil == "redirect_uri":
        params["redirect_uri"] = "http://127.0.0.1:8766/callback"
    elif spoil == "expired":
        clock.set(now() + oauth.CODE_LIFETIME + timedelta(seconds=1))
    else:
        params["client_id"], params["client_secret"] = _app()
    response = Client().post(TOKEN, urlencode(params), content_type="application/x-www-form-urlencoded")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant"), response.content
    assert _issued() == 0 and OAuthGrant.objects.get().status == "allowed"


def test_errors_before_a_registered_redirect_uri_are_shown_never_redirected(local: Server) -> None:
    client_id, _ = _app()
    challenge = _b64url(base64.b64encode(hashlib.sha256(b"v" * 43).digest()).decode())
    base = {"response_type": "code", "code_challenge": challenge, "code_challenge_method": "S256"}
    evil = {**base, "client_id": client_id, "redirect_uri": "https://evil.example/cb"}
    unknown = {**base, "client_id": "app_unknown", "redirect_uri": REDIRECT}
    not_loopback = {**base, "client_id": client_id, "redirect_uri": "http://localhost:8765/callback"}
    for params in (evil, unknown, not_loopback, {**base, "client_id": client_id}):
        page = Client().get(AUTHORIZE, params, HTTP_ACCEPT="text/html")
        assert page.status_code == 400 and "Location" not in page and "授权请求无效" in page.content.decode()
        as_json = Client().get(AUTHORIZE, params)
        assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    assert OAuthGrant.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),  # absent means plain (RFC 7636 §4.3)
        ({"code_challenge": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "everything"}, "invalid_scope"),
        ({"scope": "credential"}, "invalid_request"),  # no credentialID, hashes
    ],
)
def test_later_errors_go_back_to_the_redirect_uri_with_the_state(
    local: Server, change: dict[str, str | None], error: str
) -> None:
    client_id, _ = _app()
    challenge = _b64url(base64.b64encode(hashlib.sha256(b"v" * 43).digest()).decode())
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": "http://127.0.0.1:50123/callback",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "xyz",
        **change,
    }
    answer = Client().get(AUTHORIZE, {key: value for key, value in params.items() if value is not None})
    assert answer.status_code == 302
    location = answer["Location"]
    assert location.startswith("http://127.0.0.1:50123/callback?")
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == [error] and query["state"] == ["xyz"] and "code" not in query
    assert OAuthGrant.objects.count() == 0


def test_the_code_goes_only_to_the_browser_that_asked_and_a_denial_comes_back_as_access_denied(
    local: Server, credential: Credential
) -> None:
    client_id, secret = _app()
    app = local.client(client_id=client_id, client_secret=secret, redirect_uri="http://127.0.0.1:8765/callback")
    with app, local.browser() as browser:
        ref, state, _ = _ask(local, app, browser)
        other = Client().get(f"/h5/oauth/{ref}/done/")
        assert other.status_code == 403 and "Location" not in other
        phone = phone_login(LEGAL_REP, next_page=f"/h5/oauth/{ref}/")
        assert phone.post(f"/h5/oauth/{ref}/", {"decision": "deny"}).status_code == 302
        assert "已拒绝" in phone.get(f"/h5/oauth/{ref}/").content.decode()
        callback = _back_to_app(browser, ref)
    query = parse_qs(urlsplit(callback).query)
    assert query["error"] == ["access_denied"] and query["state"] == [state] and "code" not in query
    grant = OAuthGrant.objects.get()
    assert grant.status == "denied" and grant.code_digest is None and _issued() == 0


# --- scope credential: the phone's approval with the PIN is the SCAL2 authorisation ------------------------------


def _verify(credential: Credential, signature_b64: str, digest_b64: str) -> None:
    """The signature checked with the signing certificate's public key (cryptography), over the approved digest."""
    certificate = x509.load_pem_x509_certificate(ca_facade.certificate_pem(serial_hex=credential.sign_serial).encode())
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(
        base64.b64decode(signature_b64), base64.b64decode(digest_b64), ec.ECDSA(utils.Prehashed(hashes.SHA256()))
    )


@pytest.mark.django_db(transaction=True)
def test_a_credential_token_signs_exactly_the_approved_hash_once(live: Server, credential: Credential) -> None:
    approved, other = _digest("投标文件.pdf"), _digest("别的文件")
    client_id, secret = _app()
    with live.client(
        client_id=client_id, client_secret=secret, redirect_uri="http://127.0.0.1:8765/callback", scope="credential"
    ) as app:
        callback, verifier = _code_flow(
            live,
            app,
            pin=PIN,
            credentialID=credential.service_no,
            numSignatures="1",
            hashes=_b64url(approved),  # base64url, as CSC's example
            hashAlgorithmOID=oauth.SHA256_OID,
            description="JDZ-001 投标文件",
        )
        token = app.fetch_token(live.base + TOKEN, authorization_response=callback, code_verifier=verifier)
        assert token["scope"] == "credential" and "refresh_token" not in token
        assert 0 < token["expires_in"] <= 300 and token["credentialID"] == credential.service_no
        sign = live.base + "/csc/v2/signatures/signHash"
        body = {"credentialID": credential.service_no, "SAD": token["access_token"], "signAlgo": "1.2.840.10045.4.3.2"}

        refused = app.post(sign, json={**body, "hashes": [other]})
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request")
        assert refused.json()["error_description"].startswith("Hash is not authorized by the SAD")
        # the token is one approved use, not a service token: it asks for no further authorisation
        more = app.post(
            live.base + "/csc/v2/credentials/authorize",
            json={"credentialID": credential.service_no, "numSignatures": 1, "hashes": [other]},
        )
        assert (more.status_code, more.json()["error"]) == (400, "invalid_request"), more.text
        del body["SAD"]  # CSC §11.10: with a credential-scope bearer token the SAD parameter is not needed
        signed = app.post(sign, json={**body, "hashes": [approved]})
        assert signed.status_code == 200, signed.text
        _verify(credential, signed.json()["signatures"][0], approved)
        again = app.post(sign, json={**body, "hashes": [approved]})
        assert (again.status_code, again.json()["error"]) == (401, "invalid_token")  # the token was the one use
    assert OperationRecord.objects.filter(action="sign").count() == 1
    assert KeyUseAuthorization.objects.get().status == "used"
    assert token["access_token"] not in str(list(OAuthGrant.objects.values_list()))


def test_a_credential_request_by_authorization_details_shows_the_labels_and_a_wrong_pin_is_counted(
    local: Server, credential: Credential
) -> None:
    approved = _digest("合同.pdf")
    details = [
        {
            "type": "credential",
            "credentialID": credential.service_no,
            "documentDigests": [{"hash": approved, "label": "采购合同"}],
            "hashAlgorithmOID": oauth.SHA256_OID,
        }
    ]
    client_id, secret = _app()
    with local.client(client_id=client_id, client_secret=secret, redirect_uri="http://127.0.0.1:8765/callback") as app:
        with local.browser() as browser:
            ref, _state, verifier = _ask(local, app, browser, authorization_details=json.dumps(details))
            phone = phone_login(LEGAL_REP, next_page=f"/h5/oauth/{ref}/")
            page = phone.get(f"/h5/oauth/{ref}/").content.decode()
            assert "采购合同" in page and approved in page and credential.service_no in page
            wrong = phone.post(f"/h5/oauth/{ref}/", {"decision": "allow", "pin": "000000"})
            assert wrong.status_code == 400 and "PIN 码错误，再错 4 次" in wrong.content.decode()
            assert Credential.objects.get().pin_failures == 1
            assert OAuthGrant.objects.get().status == "pending" and OAuthGrant.objects.get().code_digest is None
            assert phone.post(f"/h5/oauth/{ref}/", {"decision": "allow", "pin": PIN}).status_code == 302
            callback = _back_to_app(browser, ref)
        token = app.fetch_token(local.base + TOKEN, authorization_response=callback, code_verifier=verifier)
    assert token["authorization_details"][0]["credentialID"] == credential.service_no
    assert token["authorization_details"][0]["documentDigests"] == [{"hash": approved, "label": "采购合同"}]
    # the token alone, as bearer: the credential it names, no other
    api = Client()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token['access_token']}"}
    listed = api.post("/csc/v2/credentials/list", "{}", "application/json", **bearer).json()
    assert listed["credentialIDs"] == [credential.service_no]


# --- revocation (RFC 7009) -----------------------------------------------------------------------------------------


def test_revocation_of_an_access_token_a_refresh_token_and_an_unknown_token(
    local: Server, credential: Credential
) -> None:
    client_id, secret = _app()
    with local.client(client_id=client_id, client_secret=secret, redirect_uri="http://127.0.0.1:8765/callback") as app:
        callback, verifier = _code_flow(local, app)
        token = app.fetch_token(local.base + TOKEN, authorization_response=callback, code_verifier=verifier)
        assert app.revoke_token(local.base + REVOKE, token="mco_unknown").status_code == 200
        assert app.post(local.base + "/csc/v2/credentials/list", json={}).status_code == 200

        revoked = app.revoke_token(local.base + REVOKE, token=token["access_token"], token_type_hint="access_token")
        assert revoked.status_code == 200
        assert app.post(local.base + "/csc/v2/credentials/list", json={}).status_code == 401
        fresh = app.refresh_token(local.base + TOKEN, refresh_token=token["refresh_token"])  # the refresh token lives
        assert app.post(local.base + "/csc/v2/credentials/list", json={}).status_code == 200

        # another client cannot revoke it
        other_id, other_secret = _app()
        with local.client(client_id=other_id, client_secret=other_secret) as stranger:
            assert stranger.revoke_token(local.base + REVOKE, token=fresh["refresh_token"]).status_code == 200
        assert app.post(local.base + "/csc/v2/credentials/list", json={}).status_code == 200

        app.revoke_token(local.base + REVOKE, token=fresh["refresh_token"], token_type_hint="refresh_token")
        assert app.post(local.base + "/csc/v2/credentials/list", json={}).status_code == 401  # the family went
        with pytest.raises(OAuthError):
            app.refresh_token(local.base + TOKEN, refresh_token=fresh["refresh_token"])
    wrong = Client().post(
        REVOKE,
        urlencode({"token": "x", "client_id": client_id, "client_secret": "wrong"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_client")
    assert AuditEvent.objects.filter(action="oauth.token_revoked").count() == 1
    assert AuditEvent.objects.filter(action="oauth.tokens_revoked", data__reason="refresh_token_revoked").exists()


# --- the command-line tool's device code, in a form body ---------------------------------------------------------


def test_the_device_code_grant_works_form_encoded(credential: Credential) -> None:
    form = "application/x-www-form-urlencoded"
    start = Client().post("/csc/v2/oauth2/device", urlencode({"client_name": "表单工具"}), content_type=form).json()
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": start["device_code"]}
    pending = Client().post(TOKEN, urlencode(grant), content_type=form)
    assert (pending.status_code, pending.json()["error"]) == (400, "authorization_pending")
    phone = phone_login(LEGAL_REP)
    phone.post("/h5/device/", {"user_code": start["user_code"], "decision": "allow"})
    clock.set(now() + timedelta(seconds=3))
    token = Client().post(TOKEN, urlencode(grant), content_type=form).json()
    assert token["access_token"].startswith("mcu_") and token["token_type"] == "Bearer"


def test_each_oauth_route_is_documented_with_its_form_body_and_statuses(db: None, settings: Any) -> None:
    settings.MOBILECA_API_DOCS = True
    paths = Client().get("/csc/v2/openapi.json").json()["paths"]
    for route in ("token", "revoke", "device"):
        operation = paths[f"/csc/v2/oauth2/{route}"]["post"]
        assert "application/x-www-form-urlencoded" in operation["requestBody"]["content"], route
        assert {"200", "429"} <= set(operation["responses"]), route
    authorize = paths["/csc/v2/oauth2/authorize"]["get"]
    assert {"302", "400"} <= set(authorize["responses"])
    assert {"client_id", "code_challenge", "code_challenge_method"} <= {p["name"] for p in authorize["parameters"]}


def test_a_registered_redirect_uri_must_be_https_loopback_or_a_private_scheme(db: None) -> None:
    from mobileca.core.errors import InvalidInput

    for bad in ("http://example.com/cb", "https://example.com/cb#frag", "http://localhost/cb", "javascript:x"):
        with pytest.raises(InvalidInput):
            oauth.app_create(name="x", redirect_uris=[bad])
    app, _ = oauth.app_create(name="x", redirect_uris=["https://app.example/cb", "cn.example.app:/cb"])
    assert oauth.redirect_uri_for(app, "https://app.example/cb") == "https://app.example/cb"
    assert oauth.redirect_uri_for(app, "https://app.example/cb2") is None
    assert oauth.redirect_uri_for(app, None) is None  # two registered: the request must name one


@pytest.fixture(autouse=True)
def _no_clock_leak() -> Iterator[None]:
    yield
    clock.reset()
