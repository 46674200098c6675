"""Shared test helpers and factories: one module per part of the platform."""
