"""State-machine helpers shared by every part: a transitions table is a dict from a state to the states it may
move to; ``ensure_transition`` refuses any other edge."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from mobileca.core.errors import InvalidTransition

S = TypeVar("S", bound=str)


def ensure_transition(table: Mapping[S, frozenset[S]], current: S, target: S, *, message: str = "") -> None:
    if target not in table.get(current, frozenset()):
        raise InvalidTransition(message or None, detail=f"{current} -> {target} is not allowed")
