"""Settings for the support marketplace.

Everything configurable comes from the environment (see README "Configuration").
With no DATABASE_URL / REDIS_URL the product runs embedded: SQLite, an in-process
channel layer and an in-process sweeper, so one process on a bare machine works.
"""

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _secret(name: str, default: str | None = None) -> str | None:
    """Read a secret from NAME or from the file named by NAME_FILE (Docker/K8s secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from exc
    return env.str(name, default=default)


def _int(name: str, default: int, minimum: int = 0) -> int:
    try:
        value = env.int(name, default=default)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {env.str(name)!r}") from exc
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(name: str, default: float, minimum: float = 0.0) -> float:
    try:
        value = env.float(name, default=default)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {env.str(name)!r}") from exc
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def _decimal(name: str, default: str) -> Decimal:
    """A non-negative amount in a currency's major unit, such as 5.00."""
    raw = env.str(name, default=default).strip()
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ImproperlyConfigured(f"{name} must be an amount such as 5.00, got {raw!r}") from exc
    if not value.is_finite() or value < 0 or value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ImproperlyConfigured(f"{name} must be a non-negative amount with at most 2 decimals, got {raw!r}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = env.str(name, default="")
    if raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {raw!r}")


# --- Core -----------------------------------------------------------------------------
ENVIRONMENT = env.str("ENVIRONMENT", default="development")
if ENVIRONMENT not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"ENVIRONMENT must be development, test or production, got {ENVIRONMENT!r}")
DEBUG = _bool("DEBUG", default=False)
if DEBUG and ENVIRONMENT == "production":
    raise ImproperlyConfigured("DEBUG must not be on when ENVIRONMENT=production")

SECRET_KEY = _secret("SECRET_KEY")
if not SECRET_KEY:
    if ENVIRONMENT == "production":
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required in production")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Demo mode lets seed_demo give the demo accounts their well-known password.
DEMO_MODE = _bool("DEMO_MODE", default=ENVIRONMENT != "production")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_countries",
    "pgtrigger",
    "marketplace",
    "agents",
    "tasks",
    "payouts",
]

MIDDLEWARE = [
    # First: NUL or a lone surrogate in the path, query or form body is a 400 before anything
    # (static files, sessions, URL resolution) touches the text.
    "marketplace.middleware.InvalidCharactersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before anything that renders: the language comes from the switcher's
    # cookie, else the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "marketplace.mfa.SupervisorMFAMiddleware",
    "marketplace.middleware.ContentSecurityPolicyMiddleware",
    # Last, so its process_exception sees a Redis outage from any view first: a 503, not a 500.
    "marketplace.unavailable.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "marketplace.urls"
ASGI_APPLICATION = "marketplace.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Site ---------------------------------------------------------------------------------
# Public base URL of the product: every link in an e-mail and the customer_chat_url handed
# to brand systems start with it, since a worker sending mail has no request, and a Host
# header is whatever the client wrote. `check --deploy` refuses a local one
# (marketplace/checks.py).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
_site = urlsplit(SITE_URL)
if _site.scheme not in {"http", "https"} or not _site.hostname or _site.path or _site.query or _site.fragment:
    raise ImproperlyConfigured(f"SITE_URL must be http(s)://host[:port] with no path, got {SITE_URL!r}")
# The product's name in e-mail subjects and greetings, and in authenticator apps.
SITE_NAME = env.str("SITE_NAME", default="Support Marketplace").strip()
if not SITE_NAME:
    raise ImproperlyConfigured("SITE_NAME must not be empty")

# --- Database -------------------------------------------------------------------------
try:
    DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
except Exception as exc:  # django-environ raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
EMBEDDED_DB = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if EMBEDDED_DB:
    # SQLite has one writer. IMMEDIATE takes the write lock when a transaction starts, so
    # the web process and the in-process sweeper queue for it (up to `timeout`) instead of
    # failing with "database is locked" when a reader later tries to write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=20, transaction_mode="IMMEDIATE")
else:
    DATABASES["default"]["CONN_MAX_AGE"] = _int("DB_CONN_MAX_AGE", 0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # psycopg's pool, on unless DB_POOL=false: under ASGI each request runs in a thread of
    # its own, so a persistent connection per thread is never reused and every request
    # would open one. CONN_MAX_AGE must be 0 with the pool. The pool's connections are
    # checked for a server that hung up without the round trip CONN_HEALTH_CHECKS costs on
    # every checkout (marketplace/postgresql/base.py).
    if _bool("DB_POOL", default=True):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
            DATABASES["default"].update(ENGINE="marketplace.postgresql", CONN_HEALTH_CHECKS=False)
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": _int("DB_POOL_MIN", 2, 1),
            "max_size": _int("DB_POOL_MAX", 10, 1),
        }
    # Server-side binding, and a statement run DB_PREPARE_THRESHOLD times on a connection is
    # prepared there: PostgreSQL then plans the same few hot statements once per connection
    # instead of once per call (its planning took as long as executing them). Off for a
    # pooler that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
    # At least 1, and 1 by default: PostgreSQL refuses to prepare a string of several
    # commands, which a migration runs once, so the second run is the earliest; every run
    # before it is planned again on each new pooled connection (docs/performance.md).
    if _bool("DB_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=_int("DB_PREPARE_THRESHOLD", 1, 1)
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Redis: channel layer, cache, Celery ------------------------------------------------
def _isolate_test_worker() -> None:
    """The suite runs in parallel processes (pytest-xdist), and each clears its cache and
    listens on its channel layer: give each worker a Redis database and channel prefix of
    its own. Written back to the environment, so the servers a test starts inherit them,
    and marked, so a child process does not shift them a second time."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if ENVIRONMENT != "test" or not worker.startswith("gw") or os.environ.get("TEST_WORKER_ISOLATED") == worker:
        return
    index = int(worker[2:])
    url = os.environ.get("REDIS_URL", "")
    if url.startswith("redis://"):
        parts = urlsplit(url)
        base = int(parts.path.lstrip("/") or 0)
        os.environ["REDIS_URL"] = parts._replace(path=f"/{(base - index) % 16}").geturl()
    os.environ["CHANNEL_PREFIX"] = f"{os.environ.get('CHANNEL_PREFIX', 'mkt')}-{worker}"
    os.environ["TEST_WORKER_ISOLATED"] = worker


_isolate_test_worker()

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL must start with redis://, rediss:// or unix://, got {REDIS_URL!r}")
# The channel layer may be spread over several Redis servers (comma-separated URLs): each
# group lives on one of them, by a hash of its name (docs/deployment.md, "Going past one
# machine"). The cache and Celery stay on REDIS_URL.
CHANNEL_REDIS_URLS = env.list("CHANNEL_REDIS_URLS", default=[REDIS_URL] if REDIS_URL else [])
for _url in CHANNEL_REDIS_URLS:
    if not _url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"CHANNEL_REDIS_URLS must be redis://, rediss:// or unix:// URLs, got {_url!r}")
if CHANNEL_REDIS_URLS and not REDIS_URL:
    raise ImproperlyConfigured("CHANNEL_REDIS_URLS needs REDIS_URL too (the cache and Celery use it)")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": CHANNEL_REDIS_URLS, "prefix": env.str("CHANNEL_PREFIX", default="mkt")},
        }
    }
    # django-redis keeps one connection pool per process. Django's own Redis cache builds a
    # pool per cache object, and under ASGI that is per request: a new connection each time.
    # Short timeouts: with Redis away a request answers 503 at once instead of hanging.
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
# Without a broker there is no worker and no beat (embedded mode): jobs run inline in the
# process that enqueues them, and the sweeper closes reopen windows (tasks/sweeper.py). The test
# suite starts no worker either, so its jobs run inline too.
CELERY_TASK_ALWAYS_EAGER = ENVIRONMENT == "test" or (not REDIS_URL and not env.str("CELERY_BROKER_URL", default=""))
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# Periodic sweeps (docs/architecture.md, "Clocks: sweeper and beat"). Run one beat process;
# each job is an idempotent sweep, so a doubled or missed run does no harm.
CELERY_BEAT_SCHEDULE = {
    "close-reopen-windows": {"task": "tasks.jobs.tickets_close_after_window", "schedule": 60.0},
    "widen-waiting-tickets": {"task": "tasks.jobs.tickets_widen_due", "schedule": 5.0},
    "release-earnings": {"task": "payouts.jobs.earnings_release_due", "schedule": 60.0},
    "sample-qa-reviews": {"task": "agents.jobs.reviews_sample_due", "schedule": 300.0},
    # A full recalculation at night repairs anything a lost job left behind.
    "recompute-quality-scores": {
        "task": "agents.jobs.quality_recompute_all",
        "schedule": crontab(minute=30, hour=3),
    },
    "mark-shift-no-shows": {"task": "tasks.jobs.shifts_mark_no_shows", "schedule": 60.0},
    "settle-ended-shifts": {"task": "tasks.jobs.shifts_settle_due", "schedule": 60.0},
    # The supervisors' analytics: the hours whose source rows changed, every minute; and at
    # night the last two days from scratch, in case a change slipped past the minute job.
    "roll-up-analytics": {"task": "tasks.jobs.analytics_rollup", "schedule": 60.0},
    "repair-analytics": {"task": "tasks.jobs.analytics_rollup_repair", "schedule": crontab(minute=45, hour=3)},
    "resend-stuck-payouts": {"task": "payouts.jobs.payouts_resend_stuck", "schedule": 300.0},
    # Monday morning: propose each currency's payout batch for the supervisors to approve.
    "propose-weekly-payouts": {
        "task": "payouts.jobs.payout_batches_propose",
        "schedule": crontab(minute=0, hour=6, day_of_week="mon"),
    },
}

# --- Sweeper (database-driven timers) ---------------------------------------------------
# The sweeper expires offers, re-queues tickets of disconnected agents and offers waiting
# tickets. Embedded mode runs it inside the ASGI process; with Redis it is its own process
# (`manage.py run_sweeper`), and running several copies is harmless.
SWEEPER_IN_PROCESS = _bool("SWEEPER_IN_PROCESS", default=not REDIS_URL)
SWEEPER_INTERVAL_SECONDS = _float("SWEEPER_INTERVAL_SECONDS", 0.5, 0.05)

# --- Dispatch rules (defaults; brands may override some) --------------------------------
OFFER_TIMEOUT_SECONDS = _int("OFFER_TIMEOUT_SECONDS", 20, 1)
MAX_TIMEOUTS_IN_ROW = _int("MAX_TIMEOUTS_IN_ROW", 3, 1)
# An accept is judged by the time its frame arrived, not by when a busy server got to it:
# the sweeper expires an offer only this long after its countdown ended, so an accept that
# arrived in time and waited for a thread still wins.
OFFER_EXPIRY_GRACE_SECONDS = _float("OFFER_EXPIRY_GRACE_SECONDS", 2.0, 0.0)
# An offer frame that reaches the agent's socket this late (the server was busy) starts its
# countdown again from delivery: server delay never expires an offer.
OFFER_LATE_DELIVERY_SECONDS = _float("OFFER_LATE_DELIVERY_SECONDS", 0.5, 0.0)
# An agent who missed or declined a ticket is asked again after this, if nobody else has
# taken it: with few agents online, a missed offer must not strand the customer.
OFFER_RETRY_COOLDOWN_SECONDS = _int("OFFER_RETRY_COOLDOWN_SECONDS", 120, 0)
# A ticket nobody took this long after it (re-)entered the queue, or after its last
# widening step, is widened one step: skill tags dropped, then the brand's tier floor.
WIDEN_AFTER_SECONDS = _int("WIDEN_AFTER_SECONDS", 60, 1)
# At most one "tickets are stuck" e-mail per brand in this many minutes; it lists them all.
WIDEN_ALERT_MINUTES = _int("WIDEN_ALERT_MINUTES", 10, 0)
AGENT_GRACE_SECONDS = _int("AGENT_GRACE_SECONDS", 60, 0)
# While a supervisor has paused a brand's intake, a handover is answered 503 intake_paused
# with this Retry-After (seconds).
INTAKE_PAUSED_RETRY_SECONDS = _int("INTAKE_PAUSED_RETRY_SECONDS", 120, 1)
# Graceful overload (marketplace/admission.py): a web process with this much work in flight
# (HTTP requests and socket frames being handled), or this many socket frames in flight,
# answers new handovers 429 overloaded with this Retry-After, so agents' actions, already
# admitted work, go first.
INTAKE_MAX_IN_FLIGHT = _int("INTAKE_MAX_IN_FLIGHT", 32, 1)
INTAKE_MAX_FRAMES_IN_FLIGHT = _int("INTAKE_MAX_FRAMES_IN_FLIGHT", 8, 1)
OVERLOAD_RETRY_SECONDS = _int("OVERLOAD_RETRY_SECONDS", 1, 1)
# Every process marks the agent sockets it holds as alive this often; a socket not seen for
# the TTL (its process was killed, its consumer crashed) is removed by the sweeper.
AGENT_HEARTBEAT_SECONDS = _float("AGENT_HEARTBEAT_SECONDS", 10.0, 0.1)
AGENT_CONNECTION_TTL_SECONDS = _float("AGENT_CONNECTION_TTL_SECONDS", 30.0, 0.2)
if AGENT_CONNECTION_TTL_SECONDS <= AGENT_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("AGENT_CONNECTION_TTL_SECONDS must be longer than AGENT_HEARTBEAT_SECONDS")
DEFAULT_CAPACITY = _int("DEFAULT_CAPACITY", 2, 1)
PROBATION_CAPACITY = _int("PROBATION_CAPACITY", 1, 1)
EXPERT_CAPACITY = _int("EXPERT_CAPACITY", 3, 1)
REOPEN_WINDOW_HOURS = _int("REOPEN_WINDOW_HOURS", 72, 0)
# The analytics rollup job re-reads source rows stamped up to this long before its previous
# run: a transaction that stamped a row before that run but committed after it is still seen.
ANALYTICS_ROLLUP_OVERLAP_SECONDS = _int("ANALYTICS_ROLLUP_OVERLAP_SECONDS", 120, 0)
MESSAGE_MAX_CHARS = _int("MESSAGE_MAX_CHARS", 4000, 1)
# Messages a (re)connecting socket gets per chat; older ones are paged with a history frame.
SNAPSHOT_MESSAGES = _int("SNAPSHOT_MESSAGES", 50, 1)
# Client frames per socket: a token bucket refilled at this rate, holding at most the burst.
WS_FRAMES_PER_SECOND = _float("WS_FRAMES_PER_SECOND", 20.0, 0.001)
WS_FRAME_BURST = _int("WS_FRAME_BURST", 40, 1)
DEFAULT_HANDLE_SECONDS = _int("DEFAULT_HANDLE_SECONDS", 300, 1)
# The largest file (image or PDF) accepted in a chat.
ATTACHMENT_MAX_BYTES = _int("ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024, 1)
APPLICATION_RETRY_DAYS = _int("APPLICATION_RETRY_DAYS", 30, 0)
ASSESSMENT_RETAKE_DAYS = _int("ASSESSMENT_RETAKE_DAYS", 7, 0)
# Answers that arrive this long after the deadline still count (slow networks).
ASSESSMENT_GRACE_SECONDS = _int("ASSESSMENT_GRACE_SECONDS", 30, 0)

# --- Quality (agents.quality) --------------------------------------------------------------
# The quality score is a Bayesian average on the 1-5 scale: QUALITY_PRIOR_WEIGHT imaginary
# ratings of QUALITY_PRIOR_MEAN, then every customer rating, then every scored QA review
# counted as QUALITY_REVIEW_WEIGHT ratings. A new agent starts at the prior mean, and a few
# ratings move it only a little.
QUALITY_PRIOR_MEAN = _float("QUALITY_PRIOR_MEAN", 4.0, 1.0)
if QUALITY_PRIOR_MEAN > 5:
    raise ImproperlyConfigured("QUALITY_PRIOR_MEAN must be between 1 and 5")
QUALITY_PRIOR_WEIGHT = _float("QUALITY_PRIOR_WEIGHT", 10.0, 0.1)
QUALITY_REVIEW_WEIGHT = _float("QUALITY_REVIEW_WEIGHT", 3.0, 0.0)

# --- Shifts ---------------------------------------------------------------------------------------
# Cancelling a booking is free until this long before the shift starts; later it is allowed
# and recorded (it lowers the reliability score a little).
SHIFT_CANCEL_CUTOFF_HOURS = _int("SHIFT_CANCEL_CUTOFF_HOURS", 12, 0)
# Going available this close to a booked shift's start (before or after) checks the agent in;
# not checked in this long after the start is a no-show.
SHIFT_CHECK_IN_MINUTES = _int("SHIFT_CHECK_IN_MINUTES", 10, 1)
# Late cancellations and no-shows weigh half as much after this many days.
RELIABILITY_HALF_LIFE_DAYS = _int("RELIABILITY_HALF_LIFE_DAYS", 30, 1)

# --- Pay and payouts ------------------------------------------------------------------------
# On-demand cash-out terms in the currency's major unit; a brand may set its own
# (Brand.cashout_fee_minor / cashout_minimum_minor). Weekly batch payouts carry no fee.
CASHOUT_FEE = _decimal("CASHOUT_FEE", "0.00")
CASHOUT_MINIMUM = _decimal("CASHOUT_MINIMUM", "100.00")
# Stripe Connect transfers to agents' connected accounts. STRIPE_API_BASE exists for the test
# suite's local stand-in; production leaves it alone.
STRIPE_SECRET_KEY = _secret("STRIPE_SECRET_KEY", default="") or ""
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com").rstrip("/")
# The platform's own bank account, the debtor of every bank file (pain.001). Outside
# production a well-known example IBAN, so the demo can export a file.
SEPA_DEBTOR_NAME = env.str("SEPA_DEBTOR_NAME", default=SITE_NAME)
SEPA_DEBTOR_IBAN = env.str(
    "SEPA_DEBTOR_IBAN", default="" if ENVIRONMENT == "production" else "SE4550000000058398257466"
)
SEPA_DEBTOR_BIC = env.str("SEPA_DEBTOR_BIC", default="")

# --- Web Push (offers to a locked phone) -------------------------------------------------
# Both keys or neither: without them push is off and the agent app does not offer it.
# `python manage.py generate_vapid_keys` prints a pair.
VAPID_PUBLIC_KEY = env.str("VAPID_PUBLIC_KEY", default="")
VAPID_PRIVATE_KEY = _secret("VAPID_PRIVATE_KEY", default="") or ""
VAPID_SUBJECT = env.str("VAPID_SUBJECT", default="mailto:ops@example.com")
if bool(VAPID_PUBLIC_KEY) != bool(VAPID_PRIVATE_KEY):
    raise ImproperlyConfigured("Set both VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY, or neither")
if not VAPID_SUBJECT.startswith(("mailto:", "https://")):
    raise ImproperlyConfigured(f"VAPID_SUBJECT must be a mailto: or https: URL, got {VAPID_SUBJECT!r}")
WEB_PUSH_ENABLED = bool(VAPID_PUBLIC_KEY)
# The server posts to whatever endpoint a browser hands in, so only the push services of
# the browsers we support are accepted (a host or any subdomain of it): an endpoint cannot
# aim the server at an internal address.
WEB_PUSH_HOSTS = env.list(
    "WEB_PUSH_HOSTS",
    default=["fcm.googleapis.com", "push.services.mozilla.com", "notify.windows.com", "push.apple.com"],
)
WEB_PUSH_TIMEOUT_SECONDS = _float("WEB_PUSH_TIMEOUT_SECONDS", 5.0, 0.1)
# Push services speak HTTPS only; the test suite's stand-in push service listens on plain HTTP.
WEB_PUSH_SCHEMES = ("https",)

# --- Auth ------------------------------------------------------------------------------
AUTH_USER_MODEL = "marketplace.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
if ENVIRONMENT == "test":
    # Every test user gets a password, and production-strength hashing costs about a third of
    # a second each: most of the suite's time. The test run's server processes read the same
    # setting, so a user made in the test logs in to them. No test is about the hasher.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# One client address for allauth's rate limits and DRF's throttles (marketplace.adapters).
ACCOUNT_ADAPTER = "marketplace.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
}
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/after-login/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CHANGE_EMAIL = True
# Only takes effect in the browser session that signed up; a link opened elsewhere still
# verifies the address and then asks for the password.
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
# E-mail subjects start with "[SITE_NAME] " and links use SITE_URL (marketplace.adapters).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="support-marketplace@localhost")
# SMTP server; read only by the SMTP backend (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend).
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = _int("EMAIL_PORT", 25, 1)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = _secret("EMAIL_HOST_PASSWORD", default="") or ""
EMAIL_USE_TLS = _bool("EMAIL_USE_TLS", default=False)
# Two-factor authentication (allauth.mfa). Supervisors see every applicant's personal data,
# so marketplace.mfa.SupervisorMFAMiddleware holds them at the TOTP setup page until they
# have an authenticator; demo installs can switch that off.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = SITE_NAME
SUPERVISOR_MFA_REQUIRED = _bool("SUPERVISOR_MFA_REQUIRED", default=True)
# API login tokens (REST and websockets): django-rest-knox stores only a hash and an expiry.
# marketplace.ApiToken also records a fingerprint of the password it was issued under, so
# changing the password by any path (allauth, admin, manage.py changepassword) voids it.
API_TOKEN_TTL_HOURS = _int("API_TOKEN_TTL_HOURS", 720, 1)
KNOX_TOKEN_MODEL = "marketplace.ApiToken"
# knox's migrations would still create its default token table: unused, and its foreign key
# to users makes PostgreSQL refuse to TRUNCATE the user table (test database flushes).
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {"AUTH_HEADER_PREFIX": "Token", "AUTO_REFRESH": False}

# --- REST API ----------------------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "marketplace.adapters.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["marketplace.parsers.SafeJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "marketplace.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth_token": env.str("THROTTLE_AUTH_TOKEN", default="20/min"),
        "auth_token_account": env.str("THROTTLE_AUTH_TOKEN_ACCOUNT", default="10/min"),
        "brand": env.str("THROTTLE_BRAND", default="6000/min"),
        # Chat attachments per chat and side.
        "attachments": env.str("THROTTLE_ATTACHMENTS", default="20/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Support marketplace API",
    "DESCRIPTION": "Hand customer conversations to vetted human agents.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several resources have a `status`; each gets its own named enum in the schema.
    "ENUM_NAME_OVERRIDES": {
        "ShiftStatusEnum": ["open", "cancelled"],
        "BookingStatusEnum": ["booked", "cancelled", "no_show"],
        "PayoutStatusEnum": ["created", "submitted", "paid", "failed"],
        "EarningStatusEnum": ["pending", "available", "paid", "reversed"],
    },
}

# --- Security ----------------------------------------------------------------------------
PRODUCTION = ENVIRONMENT == "production"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = _bool("SECURE_COOKIES", default=PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# Load balancers probe over plain HTTP inside the network; a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Browsers remember HSTS for this long; 0 outside production so a laptop on plain HTTP works.
SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
# Forwarded headers are only believed from our own proxies: anyone else can write them.
# The client address is then PROXY_COUNT hops from the right of X-Forwarded-For (each
# trusted proxy appends the address it saw); marketplace.adapters.client_ip applies this
# for allauth and the login throttles, NUM_PROXIES for DRF's own throttles.
BEHIND_PROXY = _bool("BEHIND_PROXY", default=False)
PROXY_COUNT = _int("PROXY_COUNT", 1, 1)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
REST_FRAMEWORK["NUM_PROXIES"] = PROXY_COUNT if BEHIND_PROXY else 0
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

# --- I18n, static -----------------------------------------------------------------------
LANGUAGE_CODE = "en"
# The interface languages; a customer chat page follows its ticket's language when it is one of these.
LANGUAGES = [("en", "English"), ("sv", "Svenska")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Chat attachments live here (through the storage API); never served as public URLs.
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Browsers expect the PWA manifest with its own type.
WHITENOISE_MIMETYPES = {".webmanifest": "application/manifest+json"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
