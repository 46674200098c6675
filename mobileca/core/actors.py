"""Moved to ``mobileca.accounts.actors`` (the kernel knows no users). This alias stays only until the views of
orders, payments and the back office import it from there; then this module is deleted."""

from mobileca.accounts.actors import actor_for

__all__ = ["actor_for"]
