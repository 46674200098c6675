"""Hostile input to every form and API endpoint of the platform (issue 14, "Fuzzing in CI").

The URL table is enumerated (``get_resolver``); path parameters are filled with the ids of a small world (a bidder's
paid order, claimed card and activated credential, a pending remittance with its voucher, a statement line, a
tender with a sealed bid, a support request, a pending key-use authorisation, online orders at both gateways) or,
now and then, with a hostile value. Each route is then asked, as each role (anonymous, bidder, phone, finance,
reviewer, support, auditor, tender agent), with forms, multipart uploads, query strings, JSON and raw bodies in
which one value is hostile: full-width and other Unicode digits, NUL and control characters, huge numbers, exponent
notation, odd dates, very long strings, deep JSON, bodies over the upload limit, non-UTF-8 bytes. The payment
notifications are also sent correctly signed (Alipay RSA2, WeChat Pay headers and an AES-GCM resource) around the
hostile value, so that what is behind the signature check is reached.

Asserted for every request: never a 5xx; the notification endpoints answer in their gateway's format; and a refusal
(4xx) leaves every table as it was, but for the tables a refusal is meant to write (sessions, rate-limit counters,
the record of refused notifications). The sandboxes are left out: they are mounted only in demo mode and are open by
design. Deterministic: derandomised Hypothesis, a fixed number of examples per route, no example database; all
failures are collected and reported together (one line each: route, role, input, the exception's last line).
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from mobileca.accounts.models import User
from mobileca.cards.models import Card
from mobileca.core.clock import now
from mobileca.payments.remittance import remittance_voucher_upload
from mobileca.payments.statements import statement_import
from mobileca.sandboxes import common as sandbox_common
from mobileca.sandboxes.wechatpay import signing as wechat_signing
from mobileca.shield import callers, keyuse
from mobileca.shield.models import Credential
from tests.support.bidding import sealed_bid, tender_open_for_bids
from tests.support.fuzz import ServerErrors, changed, in_process_app, rolled_back, snapshot
from tests.support.payments import opened_alipay_order, place_wechat_order
from tests.support.platform import actor_of, login, make_offline_order, operator
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    activated_credential,
    bound_claim,
    ca_ready,
    card,
    paid_card,
    phone_login,
    registered,
)

EXAMPLES_PER_ROUTE = 8
CLAIMANT = "2088102000000002"
ROLES = ["anonymous", "bidder", "phone", "claimant", "finance", "reviewer", "support", "auditor", "agent", "tool"]
# what a refusal is meant to write: the session of a visitor, attempt counters, the record of a refused notification
REFUSAL_MAY_WRITE = frozenset(
    {"django_session", "core_ratecount", "axes_accessattempt", "axes_accessfailurelog", "axes_accesslog"}
)
NOTIFY_REFUSAL_MAY_WRITE = REFUSAL_MAY_WRITE | {"payments_rejectednotification"}
# a wrong PIN counts towards the credential's lock-out (R4.3), the lock-out is audited, and both are in the
# claimant's operation records (issue 18: 「PIN 码错误」, 「证书锁定」)
PIN_REFUSAL_MAY_WRITE = REFUSAL_MAY_WRITE | {
    "shield_credential",
    "shield_operationrecord",
    "audit_auditevent",
    "audit_audithead",
}
PIN_ROUTES = (
    "/h5/authorizations/{public_ref}/",
    "/h5/credentials/{service_no}/pin/change/",
    "/h5/claim/{ticket}/renewal/",
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HUGE = 3 * 1024 * 1024  # over DATA_UPLOAD_MAX_MEMORY_SIZE (and the ~2.5 MB the issue names)

HOSTILE_TEXT = [
    "１２３４５６",  # full-width digits
    "١٢٣٤٥٦",  # Arabic-Indic digits
    "１９２８３７",
    "３００.００",
    "²³",
    "\x00",
    "a\x00b",
    "\x00\x00",
    "\x01\x08\x1b[31m\x7f",
    "\u202e\u200b\ufeff",
    "9" * 400,
    "1e400",
    "1e9999999",
    "-1e400",
    "Infinity",
    "-Infinity",
    "NaN",
    "9223372036854775808",
    "1" + "0" * 30,
    "-1",
    "0",
    "3e2",
    "+300.00",
    " 300.00",
    "0300.00",
    "0001-01-01",
    "0001-01-01 00:00:00",
    "9999-12-31",
    "9999-12-31 23:59:59",
    "2026-02-30",
    "x" * 100_000,
    "名" * 300,
    "SEC/1",
    "../../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
    "",
    " ",
]
HOSTILE_JSON = [  # raw JSON texts, spliced into a body
    "1e400",
    "-1e400",
    "Infinity",
    "NaN",
    "1" + "0" * 30,
    "9223372036854775808",
    "-9223372036854775809",
    "null",
    "[]",
    "{}",
    "true",
    '"\\u0000"',
    json.dumps("１２３"),
    "[" * 2000 + "]" * 2000,
    json.dumps("x" * 300),
]
HOSTILE_FILES = [b"", PDF, b"\xff\xd8\xff" + b"\x00" * 64, b"\x89PNG\r\n\x1a\n", b"%PDF" + b"\xff" * 100, b"\x00" * 10]
GENERIC_FIELDS = [
    "pin",
    "pin_again",
    "old_pin",
    "amount",
    "expected_amount",
    "reason",
    "q",
    "from",
    "to",
    "page",
    "status",
    "name",
    "phone",
    "decision",
    "action",
    "user_code",
    "client_token",
    "region",
    "channel",
    "reference",
    "organisation_name",
    "subject",
    "message",
]


# --- the world ------------------------------------------------------------------------------------------------


@dataclass
class World:
    clients: dict[str, Client]
    params: dict[str, str]
    alipay_form: dict[str, str]
    wechat_transaction: dict[str, Any]
    fields: dict[str, dict[str, str]] = field(default_factory=dict)  # route → field name → a plausible value
    forms: dict[str, list[Form]] = field(default_factory=dict)  # route → the forms on its page
    seen_by: dict[str, list[str]] = field(default_factory=dict)  # route → the roles its page answered
    pages: dict[str, list[str]] = field(default_factory=dict)  # role → the HTML pages it sees


def _quiet(client: Client) -> Client:
    client.raise_request_exception = False  # a 500 is an answer to look at, not an exception in the test
    return client


@pytest.fixture
def world(registered: Card, ca_ready: None, bidder: User, finance: User) -> World:
    """A bidder with a paid order and an activated credential, a pending remittance with a voucher, a statement
    line, another card's open claim, a tender with a sealed bid, a support request, a pending authorisation, an
    Alipay and a WeChat Pay order shown at the gateway, and every role signed in."""
    from mobileca.notices.services import support_request_create

    credential: Credential = activated_credential(registered)
    login(Client(), bidder).get(f"/ca/cards/{registered.cert_id}/claim/status/")  # the platform learns of it
    _, payment = make_offline_order(bidder, token="fuzz-offline")
    voucher = remittance_voucher_upload(
        payment_id=payment.pk, upload=SimpleUploadedFile("v.pdf", PDF, "application/pdf"), actor=actor_of(bidder)
    )
    booked = now().strftime("%Y-%m-%d %H:%M:%S")
    statement = "\r\n".join(
        ["交易流水号,交易时间,金额,付款人户名,付款人账号,附言", f"FZ-1,{booked},300.00,某,62220202,无", ""]
    )
    statement_import(file_name="s.csv", raw=statement.encode(), operator=finance, actor=actor_of(finance))
    other_card = paid_card(bidder, finance, token="fuzz-second")
    open_claim = bound_claim(other_card, CLAIMANT)
    agent = operator("fuzz-agent", permission=("bidding", "add_tender"))
    tender = tender_open_for_bids(project_no="FUZZ-2026-1", operator=agent)
    bid = sealed_bid(tender=tender, service_no=credential.service_no, content=b"fuzz bid")
    assert bidder.enterprise is not None
    support_request_create(
        enterprise_id=bidder.enterprise.pk, user_id=bidder.pk, subject="问题", message="内容", phone="13907980001"
    )
    pending = keyuse.authorize(
        caller=callers.Caller("token", LEGAL_REP),
        credential_id=credential.service_no,
        operation="sign",
        hashes=["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="],
        pin=None,
    )
    _, alipay_payment = opened_alipay_order(bidder, token="fuzz-alipay")
    _, wechat_payment = place_wechat_order(bidder, token="fuzz-wechat")
    from mobileca.physical.models import Application, Shipment
    from mobileca.shield.models import KeyUseAuthorization, Membership

    clients = {"anonymous": _quiet(Client())}
    clients["bidder"] = _quiet(login(Client(), bidder))
    clients["finance"] = _quiet(login(Client(), finance))
    for role, group in (("reviewer", "审核"), ("support", "客服"), ("auditor", "审计")):
        clients[role] = _quiet(login(Client(), operator(f"fuzz-{role}", group=group)))
    clients["agent"] = _quiet(login(Client(), agent))
    clients["phone"] = _quiet(phone_login(LEGAL_REP))
    clients["claimant"] = _quiet(phone_login(CLAIMANT))  # the employee whose claim of the second card is open
    start = callers.device_start(client_name="fuzz")
    callers.device_decide(user_code=start.user_code, account=LEGAL_REP, allow=True)
    token, _ = callers.device_token(device_code=start.device_code)
    clients["tool"] = _quiet(Client(HTTP_AUTHORIZATION=f"Bearer {token}"))  # the claimant's command-line tool
    membership = Membership.objects.order_by("pk").first()
    application = Application.objects.order_by("pk").first()
    shipment = Shipment.objects.order_by("pk").first()
    from mobileca.payments.models import StatementLine

    params = {
        "product_code": "mobile-ca",
        "order_no": payment.order.order_no,
        "voucher_id": str(voucher.pk),
        "cert_id": registered.cert_id,
        "application_id": str(application.pk if application else 1),
        "shipment_id": str(shipment.pk if shipment else 1),
        "payment_id": str(payment.pk),
        "line_id": str(StatementLine.objects.latest("pk").pk),
        "enterprise_id": str(bidder.enterprise.pk),
        "project_no": tender.project_no,
        "bid_id": str(bid.pk),
        "ticket": open_claim.ticket,
        "usage": "sign",
        "membership_id": str(membership.pk if membership else 1),
        "uscc": bidder.enterprise.uscc,
        "public_ref": KeyUseAuthorization.objects.get(handle_digest=callers.digest(pending.handle)).public_ref,
        "service_no": credential.service_no,
        "encoded": "MEMwQTA_MD0wOzAJBgUrDgMCGgUABBQ",
        "token": "x",
        "content_type_id": "1",
        "object_id": "1",
        "id": "1",
        "app_label": "accounts",
        "url": "x",
    }
    alipay_form = {
        "notify_time": now().strftime("%Y-%m-%d %H:%M:%S"),
        "notify_type": "trade_status_sync",
        "notify_id": "fuzz0000000000000000000000000001",
        "app_id": django_settings.SANDBOX_ALIPAY["app_id"],
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": "2026120322001400000000000001",
        "out_trade_no": alipay_payment.out_trade_no,
        "buyer_id": "2088102100000001",
        "seller_id": django_settings.SANDBOX_ALIPAY["seller_id"],
        "trade_status": "TRADE_SUCCESS",
        "total_amount": f"{alipay_payment.amount:.2f}",
        "receipt_amount": f"{alipay_payment.amount:.2f}",
        "subject": "移动CA",
        "gmt_create": now().strftime("%Y-%m-%d %H:%M:%S"),
        "gmt_payment": now().strftime("%Y-%m-%d %H:%M:%S"),
    }
    wechat = django_settings.SANDBOX_WECHATPAY
    wechat_transaction = {
        "mchid": wechat["mchid"],
        "appid": wechat["appid"],
        "out_trade_no": wechat_payment.out_trade_no,
        "transaction_id": "4200000000202612030000000001",
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "success_time": now().isoformat(timespec="seconds"),
        "payer": {"openid": "o_fuzz"},
        "amount": {"total": int(wechat_payment.amount * 100), "payer_total": int(wechat_payment.amount * 100)},
    }
    found = World(clients=clients, params=params, alipay_form=alipay_form, wechat_transaction=wechat_transaction)
    _discover(found, _routes())
    return found


# --- the routes -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    template: str  # the URL with {name:converter} holes
    names: tuple[tuple[str, str], ...]  # (name, converter) of each hole


_HOLE = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>|\(\?P<(?P<rname>\w+)>[^)]*\)")


def _walk(resolver: URLResolver, prefix: str = "") -> Iterator[str]:
    for pattern in resolver.url_patterns:
        text = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern, prefix + text)
        elif isinstance(pattern, URLPattern):
            yield prefix + text


def _route_of(raw: str) -> Route:
    """A route from its pattern text as Django joins it (``ResolverMatch.route`` or the resolver's patterns)."""
    names: list[tuple[str, str]] = []

    def hole(match: re.Match[str]) -> str:
        name = match.group("name") or match.group("rname")
        names.append((name, match.group("converter") or "str"))
        return "{" + name + "}"

    template = "/" + _HOLE.sub(hole, raw.replace("^", "").replace("$", ""))
    return Route(template=template, names=tuple(names))


def _routes() -> list[Route]:
    """Every route of the platform: the sandboxes are left out (open by design, demo only), and of Django's own
    admin its login (the rest answers only superusers, and none of the roles is one)."""
    routes = []
    for raw in _walk(get_resolver()):
        if raw.startswith("sandbox/") or (raw.startswith("django-admin/") and raw != "django-admin/login/"):
            continue
        routes.append(_route_of(raw))
    return sorted(routes, key=lambda route: "logout" in route.template)  # signing out last keeps the roles signed in


_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.IGNORECASE | re.DOTALL)
_FIELD = re.compile(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"[^>]*>', re.IGNORECASE)
_VALUE = re.compile(r'\bvalue="([^"]*)"')


@dataclass(frozen=True)
class Form:
    method: str  # "get" or "post"
    role: str  # who saw it
    fields: tuple[str, ...]


_ACTION = re.compile(r'\baction="([^"]*)"')


def _discover(world: World, routes: list[Route]) -> None:
    """Every page as every role sees it: which roles it answers, and its forms, each given to the route it is sent
    to (its ``action``), with their fields (name → the page's value, else a plausible one) and method."""
    world.pages = {role: [] for role in ROLES}
    api = _api_fields(world)
    for route in routes:
        world.fields[route.template] = {name: PIN if "pin" in name else "1" for name in GENERIC_FIELDS}
        world.fields[route.template].update(api.get(route.template, {}))
        world.forms[route.template] = []
        world.seen_by[route.template] = []
    for route in routes:
        path = route.template.format(**{name: quote(world.params.get(name, "1"), safe="") for name, _ in route.names})
        for role in ROLES[1:]:
            response = world.clients[role].get(path)
            if response.status_code != 200:
                continue
            world.seen_by[route.template].append(role)
            if response.get("Content-Type", "").startswith("text/html"):
                world.pages.setdefault(role, []).append(path)
                _forms_of(world, path, role, response.content.decode(errors="replace"))


def _plausible(tag: str, name: str, value: re.Match[str] | None) -> str:
    """A value the form would accept, so that one hostile value among plausible ones reaches past the checks."""
    if value:
        return html.unescape(value.group(1))
    if 'type="datetime-local"' in tag:  # a deadline in two days, what follows it in three
        return (now() + timedelta(days=3 if "opening" in name else 2)).strftime("%Y-%m-%dT%H:%M")
    if 'type="date"' in tag:
        return now().strftime("%Y-%m-%d")
    return PIN if "pin" in name else "1"


def _forms_of(world: World, path: str, role: str, page: str) -> None:
    for attributes, inner in _FORM.findall(page):
        action = _ACTION.search(attributes)
        target = urlsplit(html.unescape(action.group(1)) if action and action.group(1) else path).path
        try:
            template = _route_of(resolve(target).route).template
        except Resolver404:
            continue
        if template not in world.forms:
            continue
        method = "post" if 'method="post"' in attributes.lower() else "get"
        names = []
        for tag in _FIELD.finditer(inner):
            name = tag.group(1)
            if name == "csrfmiddlewaretoken":
                continue
            value = _VALUE.search(tag.group(0))
            world.fields[template].setdefault(name, _plausible(tag.group(0), name, value))
            names.append(name)
        form = Form(method=method, role=role, fields=tuple(dict.fromkeys(names)))
        known = world.forms[template]
        if form.fields and not any(f.method == method and f.fields == form.fields for f in known):
            known.append(form)


# --- one request ------------------------------------------------------------------------------------------------

KINDS = ["form", "form", "multipart", "get", "json", "raw"]
RAW_BODIES: dict[str, tuple[bytes, str]] = {
    "huge form": (b"a=" + b"x" * HUGE, "application/x-www-form-urlencoded"),
    "huge JSON": (b'{"a": "' + b"x" * HUGE + b'"}', "application/json"),
    "1500 fields": ("&".join(f"f{i}=1" for i in range(1500)).encode(), "application/x-www-form-urlencoded"),
    "non-UTF-8 form": (b"name=\xff\xfe\xfa&pin=\xc3\x28", "application/x-www-form-urlencoded"),
    "GBK form": ("subject=中文&message=内容".encode("gbk"), "application/x-www-form-urlencoded; charset=gbk"),
    "deep JSON": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "deep JSON object": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
    "bad JSON": (b'{"a": ', "application/json"),
    "JSON 1e400": (b'{"size": 1e400, "file_name": "a.p7m"}', "application/json"),
    "multipart without boundary": (b"--x\r\n\r\n", "multipart/form-data"),
    "multipart broken": (b"--b\r\nContent-Disposition: form-data\r\n\r\nx", "multipart/form-data; boundary=b"),
    "NUL bytes": (b"\x00" * 64, "application/octet-stream"),
}


@dataclass(frozen=True)
class Attempt:
    role: str
    kind: str
    field: str
    value: str
    hostile_path: str  # the path parameter given a hostile value, or ""
    raw: str  # the raw body (kind "raw") or the JSON value (kind "json") or the file content index
    signed: bool  # notification endpoints: sign around the hostile value

    def describe(self) -> str:
        shown = self.value if len(self.value) < 40 else f"{self.value[:20]!r}…({len(self.value)} chars)"
        where = f" path {self.hostile_path}={shown!r}" if self.hostile_path else ""
        what = {"raw": f"raw body {self.raw}", "json": f"JSON {self.field}={self.raw[:40]}"}.get(
            self.kind, f"{self.kind} {self.field}={shown!r}"
        )
        return f"as {self.role}{' signed' if self.signed else ''}: {what}{where}"


API_ROUTES = ("/csc/v2/", "/bidding/api/", "/payments/notify/wechatpay/", "/pki/ocsp")
KILLERS = [
    "１２３４５６",
    "\x00",
    "1e9999999",
    "0001-01-01",
    "0001-01-01 00:00:00",
    "9999-12-31 23:59:59",
    "9223372036854775808",
    "名" * 300,
    "SEC/1",
]


def attempts(world: World, route: Route) -> st.SearchStrategy[Attempt]:
    """Random attempts, weighted towards the roles that see the route and the fields its pages show."""
    text = st.one_of(
        st.sampled_from(HOSTILE_TEXT),
        st.sampled_from(HOSTILE_TEXT),
        st.text(max_size=30),
        st.integers(min_value=-(10**40), max_value=10**40).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    )
    shown = sorted({name for form in world.forms[route.template] for name in form.fields})
    fields = shown * 3 + sorted(world.fields[route.template])
    kinds = ["json", "json", "raw", "form"] if route.template.startswith(API_ROUTES) else KINDS
    return st.builds(
        Attempt,
        role=st.sampled_from(world.seen_by[route.template] * 3 + ROLES),
        kind=st.sampled_from(kinds),
        field=st.sampled_from(fields),
        value=text,
        hostile_path=st.sampled_from(["", "", "", *[name for name, _ in route.names]]) if route.names else st.just(""),
        raw=st.one_of(st.sampled_from(sorted(RAW_BODIES)), st.sampled_from(HOSTILE_JSON)),
        signed=st.booleans(),
    )


def _api_fields(world: World) -> dict[str, dict[str, str]]:
    """The JSON fields of the APIs that have no page to read them from (the remote-signing API has its own fuzzer)."""
    sealed = {"header": "MAA=", "signature": "MAA=", "credentialID": world.params["service_no"]}
    return {
        "/bidding/api/tenders/{project_no}/bids": {**sealed, "fileName": "投标文件.pdf", "size": "10"},
        "/csc/v2/oauth2/token": {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "x"},
        "/csc/v2/credentials/authorize": {
            "credentialID": world.params["service_no"],
            "numSignatures": "1",
            "hashes": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        },
    }


def explicit_attempts(world: World, route: Route, index: int) -> list[Attempt]:
    """What is always tried, before the random attempts: each field of each form on the route's page, sent as the
    form sends it by the role that saw it, with each of a few values known to break parsers; each path parameter
    given a hostile value; three of the raw bodies (in turn across the routes)."""
    found: list[Attempt] = []
    plain = {"hostile_path": "", "raw": "bad JSON", "signed": False}
    for form in world.forms[route.template]:
        kind = "get" if form.method == "get" else "form"
        for name in form.fields:
            found += [Attempt(role=form.role, kind=kind, field=name, value=value, **plain) for value in KILLERS]
    seer = (world.seen_by[route.template] or ["anonymous"])[0]
    for name, _ in route.names:
        for value in ("１２３", "9" * 30, "x" * 3000):
            found.append(Attempt(seer, "get", "q", value, hostile_path=name, raw="bad JSON", signed=False))
    if route.template == "/backoffice/statements/":  # each column of an imported statement
        found += [
            Attempt("finance", "multipart", column, value, hostile_path="", raw="null", signed=False)
            for column in STATEMENT_HEADER
            for value in KILLERS
        ]
    found += _notify_attempts(world, route)
    api = _api_fields(world).get(route.template, {})
    for name in api:
        found += [Attempt("tool", "json", name, "", hostile_path="", raw=raw, signed=False) for raw in HOSTILE_JSON]
    bodies = sorted(RAW_BODIES)
    if route.template.startswith(API_ROUTES) or route.template.startswith("/payments/notify/"):
        chosen = bodies  # every raw body at every API
    else:
        chosen = [bodies[(index * 3 + offset) % len(bodies)] for offset in range(3)]
    found += [Attempt(seer, "raw", "q", "", hostile_path="", raw=raw, signed=False) for raw in chosen]
    return found


def _path(world: World, route: Route, attempt: Attempt) -> str:
    values = {}
    for name, converter in route.names:
        value = world.params.get(name, "1")
        if attempt.hostile_path == name:
            value = (
                attempt.value if converter != "int" else ("9" * 30 if not attempt.value.isdigit() else attempt.value)
            )
            value = value[:2000] or "0"
        values[name] = quote(value, safe="") if converter != "path" else quote(value)
    return route.template.format(**values)


def _send(world: World, route: Route, attempt: Attempt, path: str) -> Any:
    client = world.clients[attempt.role]
    if route.template == "/payments/notify/alipay/" and attempt.signed:
        return client.post(path, _signed_alipay(world, attempt.field, attempt.value))
    if route.template == "/payments/notify/wechatpay/" and attempt.signed:
        body = _wechat_body(world, attempt)
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in wechat_signing.signed_headers(body).items()}
        return client.generic("POST", path, body, content_type="application/json", **headers)
    data = dict(world.fields[route.template])
    data[attempt.field] = attempt.value
    if attempt.kind == "get":
        return client.get(path, data)
    if attempt.kind == "form":
        return client.post(path, data)
    if attempt.kind == "multipart":
        index = sum(map(ord, attempt.value[:8])) % len(HOSTILE_FILES)
        uploads = {
            name: SimpleUploadedFile(f"{attempt.value[:50]}.pdf", HOSTILE_FILES[index], "application/pdf")
            for name in ("voucher", "licence", "file", "ciphertext")
        }
        uploads["statement"] = SimpleUploadedFile("statement.csv", _statement(attempt), "text/csv")
        return client.post(path, {**data, **uploads})
    if attempt.kind == "json":
        body = json.dumps({**data, attempt.field: "@@HOSTILE@@"}).replace('"@@HOSTILE@@"', attempt.raw)
        return client.generic("POST", path, body.encode(), content_type="application/json")
    raw, content_type = RAW_BODIES.get(attempt.raw, (attempt.raw.encode(), "application/json"))
    return client.generic("PUT" if path.endswith("/ciphertext") else "POST", path, raw, content_type=content_type)


STATEMENT_HEADER = ["交易流水号", "交易时间", "金额", "付款人户名", "付款人账号", "附言"]


def _statement(attempt: Attempt) -> bytes:
    """A bank statement (CSV) whose column ``attempt.field`` (or one picked by its hash) holds the hostile value."""
    row = ["FZ-2", now().strftime("%Y-%m-%d %H:%M:%S"), "300.00", "某公司", "6222020200112233445", "附言"]
    column = (
        STATEMENT_HEADER.index(attempt.field)
        if attempt.field in STATEMENT_HEADER
        else sum(map(ord, attempt.field)) % len(row)
    )
    row[column] = attempt.value
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([STATEMENT_HEADER, row])
    return out.getvalue().encode(errors="surrogatepass")


def _signed_alipay(world: World, key: str, value: str) -> dict[str, str]:
    form = dict(world.alipay_form)
    form[key if key in form else "notify_id"] = value
    form = {k: v for k, v in form.items() if v != ""}
    signing = "&".join(f"{k}={form[k]}" for k in sorted(form) if k not in ("sign", "sign_type"))
    form["sign"] = sandbox_common.sign(django_settings.SANDBOX_ALIPAY["private_key_path"], signing.encode())
    return form


WECHAT_SPOTS = ["id", "event_type", "resource_type", "resource", "associated_data", "nonce", "ciphertext"]


def _wechat_body(world: World, attempt: Attempt) -> bytes:
    """A correctly signed callback; the hostile JSON value (``attempt.raw``) is in the decrypted transaction
    (field ``tx:<key>``) or in the envelope (``env:<key>``); other fields pick a place by their hash."""
    transaction = dict(world.wechat_transaction)
    keys = sorted(transaction)
    if attempt.field.startswith(("tx:", "env:")):
        where, _, spot = attempt.field.partition(":")
    elif attempt.kind in ("form", "get"):
        where, spot = "env", WECHAT_SPOTS[sum(map(ord, attempt.value[:4])) % len(WECHAT_SPOTS)]
    else:
        where, spot = "tx", keys[sum(map(ord, attempt.field)) % len(keys)]
    if where == "tx":
        transaction[spot] = "@@HOSTILE@@"
    plaintext = json.dumps(transaction).replace('"@@HOSTILE@@"', attempt.raw)
    resource: dict[str, Any] = wechat_signing.encrypt_resource(plaintext.encode())
    envelope = {
        "id": "EV-fuzz",
        "create_time": now().isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": resource,
    }
    if where == "env":
        holder = resource if spot in ("associated_data", "nonce", "ciphertext") else envelope
        holder[spot] = "@@HOSTILE@@"
    return json.dumps(envelope).replace('"@@HOSTILE@@"', attempt.raw).encode()


def _notify_attempts(world: World, route: Route) -> list[Attempt]:
    """Correctly signed notifications with one hostile value each (what the issue lists, and more)."""
    if route.template == "/payments/notify/alipay/":
        values = [*KILLERS, "x" * 128, "9" * 300, "３００.００", "3e2", "+300.00", " 300.00", "0300.00", "1e400"]
        return [
            Attempt("anonymous", "form", name, value, hostile_path="", raw="null", signed=True)
            for name in sorted(world.alipay_form)
            for value in values
        ]
    if route.template == "/payments/notify/wechatpay/":
        places = [f"tx:{key}" for key in sorted(world.wechat_transaction)] + [f"env:{spot}" for spot in WECHAT_SPOTS]
        amounts = ['"30000"', "30000.0", "3e4", '{"total": "30000"}', '{"total": 30000.0}', '{"total": [30000]}']
        return [
            Attempt("anonymous", "json", place, "", hostile_path="", raw=raw, signed=True)
            for place in places
            for raw in HOSTILE_JSON + (amounts if place == "tx:amount" else [])
        ]
    return []


STRICT_ALIPAY_AMOUNT = re.compile(r"[0-9]+\.[0-9]{2}")


def _accepted_what_it_should_refuse(world: World, route: Route, attempt: Attempt, response: Any) -> str | None:
    """A signed notification whose amount is not in the gateway's documented format must not be accepted."""
    if not attempt.signed or response.status_code >= 400:
        return None
    alipay = route.template == "/payments/notify/alipay/" and response.content == b"success"
    if alipay and attempt.field == "total_amount" and not STRICT_ALIPAY_AMOUNT.fullmatch(attempt.value):
        return "Alipay total_amount not in the documented Number(9,2) accepted"
    wechat = route.template == "/payments/notify/wechatpay/" and response.status_code == 204
    if wechat and attempt.field == "tx:amount":
        return "WeChat Pay amount not as documented (total an integer) accepted"
    return None


def _gateway_format(route: Route, response: Any) -> str | None:
    """What a notification endpoint answered that its gateway would not read, or None."""
    if route.template == "/payments/notify/alipay/":
        if response.status_code == 200 and response.content in (b"success", b"failure"):
            return None
        return f"Alipay expects 200 success/failure, got {response.status_code} {response.content[:60]!r}"
    if route.template == "/payments/notify/wechatpay/":
        if response.status_code == 204:
            return None
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if 400 <= response.status_code < 500 and isinstance(body, dict) and "code" in body and "message" in body:
            return None
        return f"WeChat Pay expects 204 or 4xx {{code, message}}, got {response.status_code} {response.content[:60]!r}"
    return None


# --- the test -------------------------------------------------------------------------------------------------


@pytest.fixture
def server_errors() -> Iterator[ServerErrors]:
    with in_process_app() as (_, errors):
        yield errors


def _kind_of(cause: str) -> str:
    """The exception's last line without the request and the names of types, so one bug is one failure."""
    return re.sub(r"'\w+' object", "'…' object", cause.split(": ", 1)[-1])


def _ask(
    world: World,
    route: Route,
    attempt: Attempt,
    skip: frozenset[str],
    server_errors: ServerErrors,
    failures: dict[str, str],
) -> None:
    path = _path(world, route, attempt)
    before = snapshot(skip=skip)
    seen = len(server_errors.seen)
    response = _send(world, route, attempt, path)
    status = response.status_code
    if status >= 500:
        cause = server_errors.seen[-1] if len(server_errors.seen) > seen else "(no exception)"
        failures.setdefault(f"{route.template} → {status} {_kind_of(cause)}", attempt.describe())
    problem = _gateway_format(route, response) if attempt.kind != "get" else None
    if problem and status < 500:
        failures.setdefault(f"{route.template}: {problem}", attempt.describe())
    lenient = _accepted_what_it_should_refuse(world, route, attempt, response)
    if lenient:
        failures.setdefault(f"{route.template}: {lenient}", attempt.describe())
    if status < 400 and attempt.kind != "get":
        tables = changed(before, snapshot(skip=skip))
        if tables:  # accepted and stored: what was stored must not break the pages that show it
            for page in world.pages[attempt.role]:
                seen = len(server_errors.seen)
                if world.clients[attempt.role].get(page).status_code >= 500:
                    cause = server_errors.seen[-1] if len(server_errors.seen) > seen else "(no exception)"
                    stored = f"after {route.template} stored it, {page} → 500 {_kind_of(cause)}"
                    failures.setdefault(stored, attempt.describe())
    if 400 <= status < 500:
        tables = changed(before, snapshot(skip=skip))
        if tables:
            failures.setdefault(f"{route.template} → {status} but changed {', '.join(tables)}", attempt.describe())


def _fuzz_route(world: World, route: Route, index: int, server_errors: ServerErrors, failures: dict[str, str]) -> int:
    skip = REFUSAL_MAY_WRITE
    if route.template.startswith("/payments/notify/"):
        skip = NOTIFY_REFUSAL_MAY_WRITE
    elif route.template in PIN_ROUTES:
        skip = PIN_REFUSAL_MAY_WRITE
    explicit = explicit_attempts(world, route, index)

    @given(attempt=attempts(world, route))
    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def ask(attempt: Attempt) -> None:
        with rolled_back():
            _ask(world, route, attempt, skip, server_errors, failures)

    for attempt in explicit:
        ask = example(attempt=attempt)(ask)
    ask()
    return len(explicit) + EXAMPLES_PER_ROUTE


def test_no_endpoint_answers_hostile_input_with_a_server_error_or_a_change(
    world: World, server_errors: ServerErrors
) -> None:
    """Issue 14: every route, every role, hostile values: no 5xx, the gateway's format on the notification
    endpoints, and nothing stored changed by a refusal."""
    failures: dict[str, str] = {}  # one line per distinct failure → its first input
    routes = _routes()
    assert len(routes) > 80, len(routes)
    asked = sum(_fuzz_route(world, route, index, server_errors, failures) for index, route in enumerate(routes))
    print(f"{asked} requests to {len(routes)} routes")
    report = "\n".join(f"{failure}\n    e.g. {example}" for failure, example in sorted(failures.items()))
    assert not failures, f"{len(failures)} distinct failures:\n{report}"


def test_the_world_reaches_the_deep_pages(world: World) -> None:
    """The fuzzing above is only as deep as its world: the ids it fills in open real pages."""
    assert world.clients["bidder"].get(f"/ca/orders/{world.params['order_no']}/pay/").status_code == 200
    assert world.clients["finance"].get("/backoffice/remittances/").status_code == 200
    assert world.clients["agent"].get(f"/backoffice/tenders/{world.params['project_no']}/").status_code == 200
    assert world.params["service_no"] in world.clients["phone"].get("/h5/credentials/").content.decode()
    assert Decimal(world.alipay_form["total_amount"]) > 0
