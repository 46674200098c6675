"""《e签盾服务协议》 and 《隐私政策》 (R3.4): each a list of versions, each version a text (a template) with its number
and the date it took effect. The last version is the one a claimant reads and accepts; older ones stay readable at
their own address, since an acceptance names the version it was given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy


@dataclass(frozen=True)
class AgreementText:
    name: str  # "service" | "privacy": the address's part
    title: str | Promise
    version: str
    effective: date

    @property
    def template(self) -> str:
        return f"shield/agreements/{self.name}-{self.version}.html"


# oldest first: the last one of each is in force
AGREEMENTS: dict[str, tuple[AgreementText, ...]] = {
    "service": (AgreementText("service", gettext_lazy("e签盾服务协议"), "2026.1", date(2026, 1, 1)),),
    "privacy": (AgreementText("privacy", gettext_lazy("隐私政策"), "2026.1", date(2026, 1, 1)),),
}


def agreement_current(name: str) -> AgreementText:
    return AGREEMENTS[name][-1]


def agreement_find(name: str, version: str | None = None) -> AgreementText | None:
    """The text of that name and version (the one in force without a version); None if there is no such text."""
    versions = AGREEMENTS.get(name, ())
    if not versions:
        return None
    if version is None:
        return versions[-1]
    return next((text for text in versions if text.version == version), None)


def agreement_versions(name: str) -> tuple[AgreementText, ...]:
    return AGREEMENTS.get(name, ())
