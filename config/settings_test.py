"""Test settings: the production settings with jobs run inline and a fast password hasher."""

from config.settings import *  # noqa: F403
from config.settings import HUEY

HUEY = {**HUEY, "immediate": True}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in production
