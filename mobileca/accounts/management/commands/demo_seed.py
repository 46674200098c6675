"""Demo data for ``make run``: one bidder enterprise with its user, a second enterprise, and a finance operator.

Idempotent. Passwords come from the environment when set; the defaults are printed by ``make run`` and are for a
local demo only.
"""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction

from mobileca.accounts.models import Enterprise, User
from mobileca.core.validators import validate_uscc

DEMO_ENTERPRISES = [
    # (name, unified social credit code (GB 32100-2015, check characters valid), legal representative)
    ("景德镇瓷都建设工程有限公司", "91360200MA35A1B20J", "王建国"),
    ("南昌高新智能装备有限公司", "91360106MA38K7P908", "李南哲"),
]


class Command(BaseCommand):
    help = "Create the demo enterprise, bidder and finance logins (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        enterprises = []
        for name, uscc, legal_rep in DEMO_ENTERPRISES:
            validate_uscc(uscc)
            enterprise, _ = Enterprise.objects.get_or_create(
                uscc=uscc, defaults={"name": name, "legal_representative": legal_rep}
            )
            enterprises.append(enterprise)
        bidder_password = os.environ.get("DEMO_BIDDER_PASSWORD", "bidder-demo-1")
        finance_password = os.environ.get("DEMO_FINANCE_PASSWORD", "finance-demo-1")
        self._user("bidder", bidder_password, first_name="王建国", enterprise=enterprises[0])
        self._user("bidder2", bidder_password, first_name="李南哲", enterprise=enterprises[1])
        finance = self._user("finance", finance_password, first_name="财务专员", is_staff=True)
        finance.groups.add(Group.objects.get(name="财务"))
        agent = self._user("agent", finance_password, first_name="招标代理", is_staff=True)
        agent.user_permissions.add(Permission.objects.get(codename="add_tender", content_type__app_label="bidding"))
        self._demo_tender(agent)
        for username, first_name, group in (
            ("reviewer", "审核专员", "审核"),
            ("support", "客服专员", "客服"),
            ("auditor", "审计专员", "审计"),
        ):
            operator = self._user(username, finance_password, first_name=first_name, is_staff=True)
            operator.groups.add(Group.objects.get(name=group))
        self.stdout.write(
            f"  bidder  / {bidder_password}   ({enterprises[0].name}, {enterprises[0].uscc})\n"
            f"  bidder2 / {bidder_password}   ({enterprises[1].name}, another enterprise)\n"
            f"  finance / {finance_password}  (财务, back office at /backoffice/)\n"
            f"  agent   / {finance_password}  (招标代理: tenders at /backoffice/tenders/)\n"
            f"  reviewer, support, auditor / {finance_password}  (审核, 客服, 审计 in the back office)"
        )

    def _demo_tender(self, agent: User) -> None:
        """One open tender, so a bid file can be sealed right away (deadline in a week, opening an hour later)."""
        from contextlib import suppress
        from datetime import timedelta

        from mobileca.bidding.services import tender_create
        from mobileca.core.clock import now
        from mobileca.core.errors import Conflict

        deadline = now() + timedelta(days=7)
        with suppress(Conflict):  # seeded before
            tender_create(
                operator=agent,
                project_no="JDZ-DEMO-001",
                name="瓷都大道路灯改造工程采购（演示）",
                bid_deadline=deadline,
                opening_at=deadline + timedelta(hours=1),
            )

    def _user(self, username: str, password: str, **fields: Any) -> User:
        user, created = User.objects.get_or_create(username=username, defaults=fields)
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        return user
