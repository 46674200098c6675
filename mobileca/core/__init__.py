"""Shared kernel: errors, clock, money, identifiers, validators, state-machine helpers."""
