"""Internationalisation: Chinese is the source language (the msgids), English comes from the catalogue.

Pages are Chinese whatever the browser's ``Accept-Language`` says, byte for byte what the other tests assert; after
the user picks English (the language switch sets Django's language cookie) labels and refusal messages are English.
"""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

from django.test import Client
from django.utils import translation

from mobileca.core.errors import InvalidInput, NotFound
from mobileca.orders.models import OrderStatus, PaymentChannel

CHECKOUT_URL = "/ca/purchase/mobile-ca/"
LC_MESSAGES = Path(__file__).resolve().parent.parent / "mobileca" / "locale" / "en" / "LC_MESSAGES"
TAMPERED = {"region": "jiangxi", "channel": "offline", "expected_amount": "0.01", "client_token": "t-1"}


def test_purchase_page_is_english_once_english_is_chosen(bidder_client: Client) -> None:
    bidder_client.cookies["django_language"] = "en"
    page = bidder_client.get("/ca/purchase/").content.decode()
    for label in ["Buy a CA", "Renew & claim", "Activate now", "Workbench", "CA management", "1 year"]:
        assert label in page, label
    for label in ["CA 新购", "立即开通", "工作台"]:
        assert label not in page, label


def test_purchase_page_is_chinese_by_default(bidder_client: Client) -> None:
    page = bidder_client.get("/ca/purchase/").content.decode()
    for label in ["CA 新购", "CA 续费申领", "立即开通", "工作台", "1年"]:
        assert label in page, label
    assert "Buy a CA" not in page and "Activate now" not in page


def test_checkout_page_and_tampered_amount_message_are_english_once_english_is_chosen(
    bidder_client: Client,
) -> None:
    bidder_client.cookies["django_language"] = "en"
    response = bidder_client.post(CHECKOUT_URL, TAMPERED)
    assert response.status_code == 400
    page = response.content.decode()
    assert "The amount due does not match the current price" in page
    assert "应付金额与当前价格不符" not in page
    for label in ["Payment details", "Choose a service region", "Offline bank remittance", "Confirm and pay"]:
        assert label in page, label


def test_tampered_amount_message_is_chinese_by_default(bidder_client: Client) -> None:
    response = bidder_client.post(CHECKOUT_URL, TAMPERED)
    assert response.status_code == 400
    page = response.content.decode()
    assert "应付金额与当前价格不符，请刷新页面后重试" in page
    assert "销售方: " in page and "确认并支付" in page
    assert "does not match" not in page


def test_error_default_messages_and_choice_labels_follow_the_active_language() -> None:
    assert NotFound().message == "未找到对应的记录"
    assert str(PaymentChannel.OFFLINE.label) == "线下汇款"
    with translation.override("en"):
        assert NotFound().message == "No matching record was found."
        assert InvalidInput().message == "Some of the information submitted is invalid. Please check it and try again."
        assert str(PaymentChannel.OFFLINE.label) == "Offline bank remittance"
        assert str(OrderStatus.PENDING_PAYMENT.label) == "Awaiting payment"
    assert NotFound().message == "未找到对应的记录"


def _po_entries(text: str) -> list[dict[str, str]]:
    """The entries of a .po file as {field: unescaped text}; enough for the files makemessages writes."""
    entries: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        field = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d+\])?) (".*")$', line)
        if field:
            if field.group(1) == "msgid" and current:
                entries.append(current)
                current = {}
            key = field.group(1)
            current[key] = ast.literal_eval(field.group(2))
        elif line.startswith('"') and key:
            current[key] += ast.literal_eval(line)
        elif line.startswith("#~"):
            key = ""  # obsolete entries are not part of the catalogue
    if current:
        entries.append(current)
    return [entry for entry in entries if entry.get("msgid")]  # drop the header


def test_english_catalogue_is_complete_and_compiled() -> None:
    po = (LC_MESSAGES / "django.po").read_text(encoding="utf-8")
    assert "#, fuzzy" not in po
    entries = _po_entries(po)
    assert len(entries) > 150
    with (LC_MESSAGES / "django.mo").open("rb") as mo_file:
        mo = gettext.GNUTranslations(mo_file)
    for entry in entries:
        msgid = entry["msgid"]
        if "msgid_plural" in entry:
            forms = [entry[key] for key in sorted(k for k in entry if k.startswith("msgstr["))]
            assert forms and all(forms), f"untranslated: {msgid!r}"
            assert mo.ngettext(msgid, entry["msgid_plural"], 1) == forms[0], f".mo is stale for {msgid!r}"
            assert mo.ngettext(msgid, entry["msgid_plural"], 2) == forms[-1], f".mo is stale for {msgid!r}"
        else:
            assert entry["msgstr"], f"untranslated: {msgid!r}"
            assert mo.gettext(msgid) == entry["msgstr"], f".mo is stale for {msgid!r}"


def test_pages_stay_chinese_for_an_english_browser(bidder_client: Client) -> None:
    page = bidder_client.get("/ca/purchase/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "CA 新购" in page and "Buy a CA" not in page


def test_the_language_switch_sets_english_and_back(bidder_client: Client) -> None:
    bidder_client.post("/i18n/setlang/", {"language": "en", "next": "/ca/purchase/"})
    assert "Buy a CA" in bidder_client.get("/ca/purchase/").content.decode()
    bidder_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/ca/purchase/"})
    assert "CA 新购" in bidder_client.get("/ca/purchase/").content.decode()
