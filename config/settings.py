"""Django settings. Every value that varies between machines comes from ``config.env.Env``; see README.md."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from csp.constants import NONCE, NONE, SELF

from config.env import ConfigurationError, Env
from config.storage import DIRECTORY_MODE, FILE_MODE, owner_only_umask

# Owner-only from the first file on (config/storage.py): every process imports these settings before it creates
# anything, so this is the one place that sets the umask for the web server, the job worker and every command.
owner_only_umask()

BASE_DIR = Path(__file__).resolve().parent.parent
env = Env()

VAR_DIR = env.path("MOBILECA_VAR_DIR", BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)

DEBUG = env.boolean("DJANGO_DEBUG", default=False)


def _secret_key() -> str:
    configured = env.optional_str("DJANGO_SECRET_KEY")
    if configured:
        return configured
    if not DEBUG and env.boolean("MOBILECA_REQUIRE_SECRET_KEY", default=False):
        raise ConfigurationError("DJANGO_SECRET_KEY must be set in production")
    # Embedded default: one random key per installation, kept beside the SQLite file.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Demo mode (sandboxes mounted, demo keys) is the embedded default only: with a DATABASE_URL (a real deployment) it
# is off unless asked for, and then the gateways must be configured or no process starts (payments/checks.py).
MOBILECA_DEMO = env.boolean("MOBILECA_DEMO", default=env.optional_str("DATABASE_URL") is None)
MOBILECA_PUBLIC_URL = env.string("MOBILECA_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# The public URL's host is always allowed (`MOBILECA_HOST=192.168.1.20 make run` with debug off just works).
_public_host = urlsplit(MOBILECA_PUBLIC_URL).hostname
ALLOWED_HOSTS = env.strings(
    "DJANGO_ALLOWED_HOSTS",
    default=["127.0.0.1", "localhost", "[::1]", *([_public_host] if _public_host else [])],
)
CSRF_TRUSTED_ORIGINS = env.strings("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "huey.contrib.djhuey",
    "ninja",  # the API docs' Swagger UI from our own static files, not a CDN the CSP would block
    "axes",
    "csp",
    "mobileca.core",
    "mobileca.audit",
    "mobileca.accounts",
    "mobileca.orders",
    "mobileca.payments",
    "mobileca.cards",
    "mobileca.backoffice",
    "mobileca.ca",
    "mobileca.shield",
    "mobileca.bidding",
    "mobileca.notices",
    "mobileca.physical",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight after the security headers: served by the application server itself (no separate web
    # server in the embedded default), compressed and with far-future caching for the hashed names.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "mobileca.core.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "mobileca.core.middleware.BoundaryMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mobileca.core.sessions.AreaSessionExpiryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mobileca.core.middleware.ApplicationErrorMiddleware",
    # Last, so that its lock-out answer is the login page's (mobileca.accounts.lockout), not a bare 403.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "mobileca" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mobileca.core.context_processors.platform",
                "csp.context_processors.nonce",
            ],
        },
    },
]
WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env.database("DATABASE_URL", default_sqlite=VAR_DIR / "mobileca.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked account or address before any password is hashed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:workbench"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "mobileca" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # `make run` collects here; WhiteNoise serves it
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Uploaded vouchers are private: stored outside any public URL and served only through authorised views.
PRIVATE_MEDIA_ROOT = env.path("MOBILECA_PRIVATE_MEDIA_ROOT", VAR_DIR / "private")
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_PERMISSIONS = FILE_MODE  # owner-only, whatever the umask (config/storage.py)
FILE_UPLOAD_DIRECTORY_PERMISSIONS = DIRECTORY_MODE

# --- Transport security (issue 14). Served over HTTPS (MOBILECA_PUBLIC_URL https://…): cookies only over HTTPS,
# HSTS. Behind a TLS-terminating proxy, MOBILECA_PROXY_SSL_HEADER names the header it sets (X-Forwarded-Proto).
_HTTPS = MOBILECA_PUBLIC_URL.startswith("https://")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.boolean("DJANGO_SECURE_COOKIES", default=_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.integer(
    "MOBILECA_HSTS_SECONDS", default=365 * 24 * 3600 if _HTTPS else 0, minimum=0, maximum=2 * 365 * 24 * 3600
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("MOBILECA_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_SSL_REDIRECT = env.boolean("MOBILECA_SSL_REDIRECT", default=False)
_proxy_ssl_header = env.optional_str("MOBILECA_PROXY_SSL_HEADER")
if _proxy_ssl_header:
    # "X-Forwarded-Proto" → request.is_secure() when that header says https. Only behind a proxy that sets it
    # (and strips it from clients): otherwise anyone could claim HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.strip().upper().replace("-", "_"), "https")
X_FRAME_OPTIONS = "DENY"

# --- Sessions (issue 14): a working day for bidders; shorter, sliding lifetimes for the phone pages and the back
# office (mobileca/core/sessions.py sets them by area).
SESSION_COOKIE_AGE = env.integer("MOBILECA_SESSION_HOURS", default=10, minimum=1, maximum=24) * 3600
MOBILECA_PHONE_SESSION_MINUTES = env.integer("MOBILECA_PHONE_SESSION_MINUTES", default=15, minimum=1, maximum=240)
MOBILECA_BACKOFFICE_SESSION_MINUTES = env.integer(
    "MOBILECA_BACKOFFICE_SESSION_MINUTES", default=30, minimum=1, maximum=480
)

# --- Content-Security-Policy (django-csp 4): our own origin only; the few inline scripts and <style> blocks carry
# the request's nonce; no inline event handlers, no javascript: URLs, no style attributes; never framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    },
}

# --- Login throttling (django-axes, issue 14): after MOBILECA_LOGIN_FAILURE_LIMIT failures an account is locked,
# and so is the address they came from, each on its own, for MOBILECA_LOGIN_LOCKOUT_MINUTES; the right password
# is refused meanwhile. Operators unlock with `manage.py axes_reset_username <name>` / `axes_reset_ip <address>`.
AXES_FAILURE_LIMIT = env.integer("MOBILECA_LOGIN_FAILURE_LIMIT", default=5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(
    minutes=env.integer("MOBILECA_LOGIN_LOCKOUT_MINUTES", default=15, minimum=1, maximum=7 * 24 * 60)
)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True  # a login that succeeds forgets that account's earlier failures
# Every attempt is recorded, locked or not (AccessAttempt counts, one AccessFailureLog row each), and a failure
# while locked restarts the lock-out: whoever keeps guessing stays locked.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_LOCKOUT_CALLABLE = "mobileca.accounts.lockout.locked_out"
AXES_USERNAME_CALLABLE = "mobileca.accounts.lockout.username_of"
AXES_HTTP_RESPONSE_CODE = 429
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every attempt is recorded (AccessAttempt counts, AccessFailureLog rows)
# The address is REMOTE_ADDR unless a trusted proxy count is set: X-Forwarded-For is the client's to forge.
_trusted_proxies = env.integer("MOBILECA_TRUSTED_PROXY_COUNT", default=0, minimum=0, maximum=5)
if _trusted_proxies:
    AXES_IPWARE_PROXY_COUNT = _trusted_proxies
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# --- Job queue (Huey): SQLite file by default, Redis in production -------------------------------------
_huey_redis = env.optional_str("HUEY_REDIS_URL")
HUEY: dict[str, object] = {
    "name": "mobileca",
    "immediate": env.boolean("HUEY_IMMEDIATE", default=False),
    "utc": True,
    "consumer": {"workers": env.integer("HUEY_WORKERS", default=2, minimum=1, maximum=64), "worker_type": "thread"},
}
if _huey_redis:
    HUEY.update({"huey_class": "huey.RedisHuey", "url": _huey_redis})
else:
    HUEY.update({"huey_class": "huey.SqliteHuey", "filename": str(VAR_DIR / "huey.sqlite3")})

# --- Business policies (SPEC §7) -------------------------------------------------------------------------
MOBILECA_SELLER = {
    "name": env.string("MOBILECA_SELLER_NAME", "江西省精彩纵横采购咨询有限公司"),
    "bank_name": env.string("MOBILECA_SELLER_BANK_NAME", "中国建设银行景德镇分行营业部"),
    "account_name": env.string("MOBILECA_SELLER_ACCOUNT_NAME", "江西省精彩纵横采购咨询有限公司"),
    "account_no": env.string("MOBILECA_SELLER_ACCOUNT_NO", "36050183015000001234"),
}
# Bounds refuse values that cannot work (config.env.bounded names the variable). The online channel asks the
# gateway to expire a QR code 10 minutes before our order does (payments/online.py GATEWAY_MARGIN): below 15
# minutes the gateway would get an expiry in the past or a QR code too short-lived to pay with.
MOBILECA_OFFLINE_ORDER_TTL_HOURS = env.integer(
    "MOBILECA_OFFLINE_ORDER_TTL_HOURS", default=7 * 24, minimum=1, maximum=90 * 24
)
MOBILECA_ONLINE_ORDER_TTL_MINUTES = env.integer(
    "MOBILECA_ONLINE_ORDER_TTL_MINUTES", default=120, minimum=15, maximum=24 * 60
)
MOBILECA_VOUCHER_MAX_BYTES = env.integer(
    "MOBILECA_VOUCHER_MAX_BYTES", default=10 * 1024 * 1024, minimum=64 * 1024, maximum=50 * 1024 * 1024
)
# --- Payment gateways (R1.6). The embedded default points them at the local sandboxes (demo mode). -------------
MOBILECA_KEYS_DIR = env.path("MOBILECA_KEYS_DIR", VAR_DIR / "keys")


def gateway_settings(public_url: str, keys: Path, environ: Env = env) -> dict[str, dict[str, str]]:
    """Gateway and sandbox settings; every value can be overridden from the environment."""
    alipay_app_id = environ.string("ALIPAY_APP_ID", "2021000000000001")
    alipay_seller_id = environ.string("ALIPAY_SELLER_ID", "2088000000000001")
    wechat_mchid = environ.string("WECHATPAY_MCHID", "1900000001")
    wechat_appid = environ.string("WECHATPAY_APPID", "wx0000000000000001")
    wechat_serial = environ.string("WECHATPAY_MERCHANT_SERIAL_NO", "5157F09EFDC096DE15EBE81A47057A7200000001")
    wechat_key_id = environ.string("WECHATPAY_PUBLIC_KEY_ID", "PUB_KEY_ID_0000000000000001")
    return {
        "alipay": {
            "gateway_url": environ.string("ALIPAY_GATEWAY_URL", f"{public_url}/sandbox/alipay/gateway.do"),
            "app_id": alipay_app_id,
            "seller_id": alipay_seller_id,
            "app_private_key_path": str(environ.path("ALIPAY_APP_PRIVATE_KEY_PATH", keys / "alipay_app_private.pem")),
            "alipay_public_key_path": str(environ.path("ALIPAY_PUBLIC_KEY_PATH", keys / "alipay_gateway_public.pem")),
            "notify_url": f"{public_url}/payments/notify/alipay/",
            "return_url": f"{public_url}/ca/payments/alipay/return/",
        },
        "wechatpay": {
            "base_url": environ.string("WECHATPAY_BASE_URL", f"{public_url}/sandbox/wechatpay"),
            "mchid": wechat_mchid,
            "appid": wechat_appid,
            "merchant_serial_no": wechat_serial,
            "merchant_private_key_path": str(
                environ.path("WECHATPAY_MERCHANT_PRIVATE_KEY_PATH", keys / "wechatpay_merchant_private.pem")
            ),
            "public_key_path": str(environ.path("WECHATPAY_PUBLIC_KEY_PATH", keys / "wechatpay_platform_public.pem")),
            "public_key_id": wechat_key_id,
            "apiv3_key_path": str(environ.path("WECHATPAY_APIV3_KEY_PATH", keys / "wechatpay_apiv3.key")),
            "notify_url": f"{public_url}/payments/notify/wechatpay/",
        },
        # The sandboxes' side: their own private keys and the merchant's public keys, as the real gateways hold.
        "sandbox_alipay": {
            "app_id": alipay_app_id,
            "seller_id": alipay_seller_id,
            "private_key_path": str(keys / "alipay_gateway_private.pem"),
            "app_public_key_path": str(keys / "alipay_app_public.pem"),
        },
        "identity": {
            "authorize_url": environ.string("IDENTITY_AUTHORIZE_URL", f"{public_url}/sandbox/identity/authorize"),
            "token_url": environ.string("IDENTITY_TOKEN_URL", f"{public_url}/sandbox/identity/token"),
            "client_id": environ.string("IDENTITY_CLIENT_ID", "mobileca-shield"),
            "client_secret_path": str(environ.path("IDENTITY_CLIENT_SECRET_PATH", keys / "identity_client_secret.txt")),
            "public_key_path": str(environ.path("IDENTITY_PUBLIC_KEY_PATH", keys / "identity_provider_public.pem")),
            "callback_url": f"{public_url}/h5/auth/callback/",
        },
        "registry": {
            "base_url": environ.string("REGISTRY_BASE_URL", f"{public_url}/sandbox/registry"),
            "client_id": environ.string("REGISTRY_CLIENT_ID", "mobileca-shield"),
            "public_key_path": str(environ.path("REGISTRY_PUBLIC_KEY_PATH", keys / "registry_public.pem")),
        },
        "sandbox_registry": {"private_key_path": str(keys / "registry_private.pem")},
        "liveness": {
            "base_url": environ.string("LIVENESS_BASE_URL", f"{public_url}/sandbox/liveness"),
            "client_id": environ.string("LIVENESS_CLIENT_ID", "mobileca-shield"),
            "client_secret_path": str(environ.path("LIVENESS_CLIENT_SECRET_PATH", keys / "liveness_client_secret.txt")),
            "public_key_path": str(environ.path("LIVENESS_PUBLIC_KEY_PATH", keys / "liveness_public.pem")),
            "return_url": f"{public_url}/h5/face/return/",
        },
        "sms": {
            "base_url": environ.string("SMS_BASE_URL", f"{public_url}/sandbox/sms"),
            "client_secret_path": str(environ.path("SMS_CLIENT_SECRET_PATH", keys / "sms_client_secret.txt")),
        },
        "sandbox_sms": {"client_secret_path": str(keys / "sms_client_secret.txt")},
        "bank": {
            "base_url": environ.string("BANK_BASE_URL", f"{public_url}/sandbox/bank"),
            "client_secret_path": str(environ.path("BANK_CLIENT_SECRET_PATH", keys / "bank_client_secret.txt")),
            # 反向打款: the service's collection account, under which the bank opens one account per application
            "collection_account": environ.string("BANK_COLLECTION_ACCOUNT", "9550880200000001000"),
        },
        "sandbox_bank": {"client_secret_path": str(keys / "bank_client_secret.txt")},
        "sandbox_liveness": {
            "client_secret_path": str(keys / "liveness_client_secret.txt"),
            "private_key_path": str(keys / "liveness_private.pem"),
        },
        "sandbox_identity": {
            "client_id": environ.string("IDENTITY_CLIENT_ID", "mobileca-shield"),
            "client_secret_path": str(keys / "identity_client_secret.txt"),
            "private_key_path": str(keys / "identity_provider_private.pem"),
        },
        "sandbox_wechatpay": {
            "mchid": wechat_mchid,
            "appid": wechat_appid,
            "merchant_serial_no": wechat_serial,
            "merchant_public_key_path": str(keys / "wechatpay_merchant_public.pem"),
            "private_key_path": str(keys / "wechatpay_platform_private.pem"),
            "public_key_id": wechat_key_id,
            "apiv3_key_path": str(keys / "wechatpay_apiv3.key"),
        },
    }


def gateway_globals(public_url: str, keys: Path) -> dict[str, dict[str, str]]:
    """The gateway and sandbox settings under their setting names (the test settings rebind them all at once):
    "alipay" → MOBILECA_ALIPAY, "sandbox_alipay" → SANDBOX_ALIPAY."""
    named = {}
    for name, value in gateway_settings(public_url, keys).items():
        sandbox = name.startswith("sandbox_")
        named[("SANDBOX_" + name.removeprefix("sandbox_") if sandbox else "MOBILECA_" + name).upper()] = value
    return named


_gateways = gateway_settings(MOBILECA_PUBLIC_URL, MOBILECA_KEYS_DIR)
MOBILECA_ALIPAY = _gateways["alipay"]
MOBILECA_WECHATPAY = _gateways["wechatpay"]
SANDBOX_ALIPAY = _gateways["sandbox_alipay"]
SANDBOX_WECHATPAY = _gateways["sandbox_wechatpay"]
MOBILECA_IDENTITY = _gateways["identity"]
SANDBOX_IDENTITY = _gateways["sandbox_identity"]
MOBILECA_REGISTRY = _gateways["registry"]
SANDBOX_REGISTRY = _gateways["sandbox_registry"]
MOBILECA_LIVENESS = _gateways["liveness"]
SANDBOX_LIVENESS = _gateways["sandbox_liveness"]
MOBILECA_SMS = _gateways["sms"]
SANDBOX_SMS = _gateways["sandbox_sms"]
MOBILECA_BANK = _gateways["bank"]
SANDBOX_BANK = _gateways["sandbox_bank"]
# Sandbox notification retries follow the real schedules, scaled (0.01: Alipay's first retry after 2.4 s, not 4 min).
SANDBOX_TIME_SCALE = float(env.decimal("SANDBOX_TIME_SCALE", "0.01", minimum=Decimal("0.0001"), maximum=Decimal("1")))
SANDBOX_APPS = [
    "mobileca.sandboxes",
    "mobileca.sandboxes.alipay",
    "mobileca.sandboxes.wechatpay",
    "mobileca.sandboxes.identity",
    "mobileca.sandboxes.registry",
    "mobileca.sandboxes.liveness",
    "mobileca.sandboxes.sms",
    "mobileca.sandboxes.bank",
]
if MOBILECA_DEMO:
    INSTALLED_APPS += SANDBOX_APPS

# --- Certificate authority (issue 4). Key back-end: an encrypted key file, or a PKCS#11 token. ------------------
MOBILECA_CA = {
    "backend": env.string("MOBILECA_CA_BACKEND", "keyfile"),
    "key_dir": env.path("MOBILECA_CA_KEY_DIR", VAR_DIR / "ca"),
    "passphrase": env.optional_str("MOBILECA_CA_PASSPHRASE"),
    "pkcs11_library": env.string("MOBILECA_PKCS11_LIBRARY", "/usr/lib/softhsm/libsofthsm2.so"),
    "pkcs11_token": env.string("MOBILECA_PKCS11_TOKEN", "mobileca"),
    "pkcs11_pin_secret": env.optional_str("MOBILECA_PKCS11_PIN"),  # "secret": hidden on Django's error pages
    # The "issued through this platform" policy (R4.5). Replace with an OID under the operator's registered arc.
    "policy_oid": env.string("MOBILECA_CA_POLICY_OID", "1.3.6.1.4.1.61337.1.1"),
    "name": env.string("MOBILECA_CA_NAME", "Jingdezhen Sunshine Procurement Mobile"),
}
# The CA certificates' names must fit X.509's bounds (RFC 5280: 64 characters; ``cryptography`` holds a common name
# to 64 UTF-8 bytes): "<MOBILECA_CA_NAME> Issuing CA" in CN, the seller's name in O.
if len(f"{MOBILECA_CA['name']} Issuing CA".encode()) > 64:
    raise ConfigurationError("MOBILECA_CA_NAME is too long: at most 53 UTF-8 bytes (it becomes '<name> Issuing CA')")
if len(MOBILECA_SELLER["name"]) > 64 or len(MOBILECA_SELLER["name"].encode()) > 192:
    raise ConfigurationError("MOBILECA_SELLER_NAME is too long for a certificate's organizationName (64 characters)")

# --- Time-stamping authority (issue 17, RFC 3161): the TSA policy its tokens name and the accuracy they state. The
# default policy is 1.3.6.1.4.1.61337.2.1: the private enterprise arc of MOBILECA_CA_POLICY_OID's placeholder, branch
# 2 for time-stamping policies (branch 1 holds certificate policies), version 1. Use your registered arc.
MOBILECA_TSA_POLICY_OID = env.string("MOBILECA_TSA_POLICY_OID", "1.3.6.1.4.1.61337.2.1")
MOBILECA_TSA_ACCURACY_MS = env.integer("MOBILECA_TSA_ACCURACY_MS", default=1000, minimum=1, maximum=60000)
if re.fullmatch(r"[0-2](\.(0|[1-9][0-9]*))+", MOBILECA_TSA_POLICY_OID) is None:
    raise ConfigurationError(f"MOBILECA_TSA_POLICY_OID={MOBILECA_TSA_POLICY_OID!r} is not a dotted OID")

MOBILECA_PLATFORM_NAME = env.string("MOBILECA_PLATFORM_NAME", "景德镇市国有企业阳光采购平台")
MOBILECA_CLAIM_QR_MINUTES = env.integer("MOBILECA_CLAIM_QR_MINUTES", default=10, minimum=1, maximum=60)  # §7
# The remote-signing API's interactive documentation (/csc/v2/docs): on in demo mode, off in production unless asked.
MOBILECA_API_DOCS = env.boolean("MOBILECA_API_DOCS", default=MOBILECA_DEMO)
# §7 phone OTP: 6 digits, valid 5 minutes, at most 5 tries, at most 1 send a minute and 10 a day per phone
MOBILECA_OTP = {"valid_minutes": 5, "max_tries": 5, "per_minute": 1, "per_day": 10, "max_failures_per_claim": 15}
# §7 forward transfer: a random ¥0.01–0.99, to be entered within 7 days; more than 3 wrong entries fail it
MOBILECA_FORWARD_TRANSFER = {"valid_days": 7, "max_wrong": 3, "max_per_claim": 3}
# 正向打款 per enterprise, whatever card or claim (issue 14): in a rolling window, at most so many transfers and
# wrong amounts — a guesser's odds are max_wrong in 99.
MOBILECA_FORWARD_TRANSFER_PER_ENTERPRISE = {
    "window_days": env.integer("MOBILECA_FORWARD_TRANSFER_WINDOW_DAYS", default=30, minimum=1, maximum=366),
    "max_transfers": env.integer("MOBILECA_FORWARD_TRANSFER_MAX_PER_ENTERPRISE", default=3, minimum=1, maximum=20),
    "max_wrong": env.integer("MOBILECA_FORWARD_TRANSFER_MAX_WRONG_PER_ENTERPRISE", default=3, minimum=1, maximum=10),
}
# The largest bid file, in the browser and through the tool (R5.1).
MOBILECA_BID_MAX_BYTES = env.integer("MOBILECA_BID_MAX_BYTES", default=4 * 1024**3, minimum=1024**2)
# §7 reverse transfer: ¥0.01 from the corporate account to a per-application account with a memo, within 7 days
MOBILECA_REVERSE_TRANSFER = {"amount": "0.01", "valid_days": "7"}

# Rate limits (core.limits): each limited action names its default rate where it is; override here by scope,
# e.g. MOBILECA_RATE_LIMITS = {"oauth2_device": "20/h"}.
MOBILECA_RATE_LIMITS: dict[str, str] = {}

MOBILECA_SUPPORT = {
    "phone": env.string("MOBILECA_SUPPORT_PHONE", "0798-8888 6666"),
    "hours": env.string("MOBILECA_SUPPORT_HOURS", "工作日 8:30-17:30"),
}
# The key profile of new credentials (ca.keys.KEY_PROFILES): "ec-p256" (ECDSA P-256, the default), "sm2" (the
# national algorithms: SM2/SM3 certificates from the SM2 hierarchy, GB/T 35275 bid files) or "rsa-2048". A
# credential keeps its profile for life, renewals included; existing credentials are not changed by this setting.
MOBILECA_KEY_PROFILE = env.string("MOBILECA_KEY_PROFILE", "ec-p256")
if MOBILECA_KEY_PROFILE not in ("ec-p256", "sm2", "rsa-2048"):
    raise ConfigurationError(f"MOBILECA_KEY_PROFILE={MOBILECA_KEY_PROFILE!r} is not one of ec-p256, sm2, rsa-2048")
# Who holds new credentials' private keys: "service" (the default: the signing service, wrapped under the master
# key, the PIN a rule it follows) or "split" (two-party SM2, 协同签名, issue 20: each key split between the claimant's
# phone page and the signing service, whole nowhere; needs MOBILECA_KEY_PROFILE=sm2). A credential keeps its custody.
MOBILECA_KEY_CUSTODY = env.string("MOBILECA_KEY_CUSTODY", "service")
if MOBILECA_KEY_CUSTODY not in ("service", "split"):
    raise ConfigurationError(f"MOBILECA_KEY_CUSTODY={MOBILECA_KEY_CUSTODY!r} is not one of service, split")
if MOBILECA_KEY_CUSTODY == "split" and MOBILECA_KEY_PROFILE != "sm2":
    raise ConfigurationError("MOBILECA_KEY_CUSTODY=split needs MOBILECA_KEY_PROFILE=sm2 (two-party SM2)")
# Bid files of SM2 credentials (GB/T 35275, cmslib.gm): what the platform writes, per peer. The flavour is the
# variant of the CMS structures ("rfc5652", the default, which BouncyCastle reads; "gbt35275"; "gmssl"; "ofdrw"),
# the cipher the content encryption ("sm4-gcm", the default, for envelopes that stay on the platform; "sm4-cbc" for
# envelopes exported to GB/T 35275 peers, opened only against the SM3 the verified signature states). Readers accept
# every flavour and both ciphers.
MOBILECA_GM_CMS_FLAVOUR = env.string("MOBILECA_GM_CMS_FLAVOUR", "rfc5652")
if MOBILECA_GM_CMS_FLAVOUR not in ("rfc5652", "gbt35275", "gmssl", "ofdrw"):
    raise ConfigurationError(
        f"MOBILECA_GM_CMS_FLAVOUR={MOBILECA_GM_CMS_FLAVOUR!r} is not one of rfc5652, gbt35275, gmssl, ofdrw"
    )
MOBILECA_GM_CMS_CIPHER = env.string("MOBILECA_GM_CMS_CIPHER", "sm4-gcm")
if MOBILECA_GM_CMS_CIPHER not in ("sm4-gcm", "sm4-cbc"):
    raise ConfigurationError(f"MOBILECA_GM_CMS_CIPHER={MOBILECA_GM_CMS_CIPHER!r} is not one of sm4-gcm, sm4-cbc")
# How long the short links in e签盾's text messages (/h5/s/<token>, signed) lead to their page, in days.
MOBILECA_SHORT_LINK_DAYS = env.integer("MOBILECA_SHORT_LINK_DAYS", default=7, minimum=1, maximum=30)
# Days before a tender's opening the readiness checks of every sealed bid run again (besides at sealing; issue 21):
# positive whole days, comma-separated.
MOBILECA_READINESS_LEAD_DAYS = env.string("MOBILECA_READINESS_LEAD_DAYS", "3,1")
if not all(part.strip().isdigit() and int(part) > 0 for part in MOBILECA_READINESS_LEAD_DAYS.split(",")):
    raise ConfigurationError(
        f"MOBILECA_READINESS_LEAD_DAYS={MOBILECA_READINESS_LEAD_DAYS!r} is not positive whole days, comma-separated"
    )

# Error reports (and the debug page, when asked for) star what views and services mark as secret, debug on or off.
DEFAULT_EXCEPTION_REPORTER_FILTER = "mobileca.core.secrecy.SecretsHidden"
DEFAULT_EXCEPTION_REPORTER = "mobileca.core.secrecy.SecretsHiddenReporter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.string("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes.apps": {"level": "WARNING"}},
}

# --- The audit log as a transparency log (RFC 9162): the sequencer's batch, how often it runs in the job worker
# (seconds; 0 = only the once-a-minute catch-up and `manage.py audit_sequence`), and how old the latest signed tree
# head may grow before a fresh one is signed for an unchanged tree.
MOBILECA_AUDIT = {
    "batch_size": env.integer("MOBILECA_AUDIT_BATCH", default=2000, minimum=1, maximum=20000),
    "sequencer_interval_ms": env.integer(
        "MOBILECA_AUDIT_SEQUENCER_INTERVAL_MS", default=1000, minimum=0, maximum=60000
    ),
    "sth_max_age_seconds": env.integer("MOBILECA_AUDIT_STH_MAX_AGE", default=3600, minimum=1, maximum=86400),
}

# --- OCSP (issue 16): pre-produced responses valid this long (re-signed at half their life by the periodic job, and
# at once on revocation), held in the "ocsp" cache in front of their table: Redis when a URL is given (that of the job
# queue by default), else files shared by the host's processes. A request carrying a nonce gets the pre-produced
# response without it (RFC 8954) unless MOBILECA_OCSP_LIVE_NONCE asks for a live, rate-limited signature.
MOBILECA_OCSP_VALIDITY_MINUTES = env.integer("MOBILECA_OCSP_VALIDITY_MINUTES", default=60, minimum=10, maximum=10080)
MOBILECA_OCSP_LIVE_NONCE = env.boolean("MOBILECA_OCSP_LIVE_NONCE", default=False)
# How long HTTP caches may keep a CRL (seconds): a new CRL is published on every revocation.
MOBILECA_CRL_MAX_AGE = env.integer("MOBILECA_CRL_MAX_AGE", default=300, minimum=0, maximum=86400)
_ocsp_redis = env.optional_str("MOBILECA_OCSP_CACHE_URL") or _huey_redis
CACHES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ocsp": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _ocsp_redis, "KEY_PREFIX": "mobileca"}
        if _ocsp_redis
        else {"BACKEND": "mobileca.ca.cache.SharedFileCache", "LOCATION": str(VAR_DIR / "ocsp-cache")}
    ),
}
