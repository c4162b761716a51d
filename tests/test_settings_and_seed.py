import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from rest_framework.test import APIClient

from agents.models import AgentProfile
from marketplace.models import Brand, User

from .conftest import TICKET_BODY

ROOT = Path(__file__).resolve().parent.parent


def django_env() -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "ENVIRONMENT", "SECRET_KEY"}}
    return {**clean, "DJANGO_SETTINGS_MODULE": "marketplace.settings"}


def django_setup_with(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**django_env(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"OFFER_TIMEOUT_SECONDS": "soon"}, "OFFER_TIMEOUT_SECONDS must be an integer"),
        ({"OFFER_TIMEOUT_SECONDS": "0"}, "OFFER_TIMEOUT_SECONDS must be >= 1"),
        ({"ENVIRONMENT": "production", "DEBUG": "1", "SECRET_KEY": "x"}, "DEBUG must not be on"),
        ({"ENVIRONMENT": "production"}, "SECRET_KEY (or SECRET_KEY_FILE) is required"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must start with"),
        ({"SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE='/nonexistent/secret' cannot be read"),
        ({"PROXY_COUNT": "0"}, "PROXY_COUNT must be >= 1"),
        ({"API_TOKEN_TTL_HOURS": "a month"}, "API_TOKEN_TTL_HOURS must be an integer"),
        ({"SECURE_HSTS_SECONDS": "-1"}, "SECURE_HSTS_SECONDS must be >= 0"),
        ({"SITE_URL": "example.com"}, "SITE_URL must be http(s)://host[:port] with no path"),
        ({"SITE_URL": "https://example.com/support"}, "SITE_URL must be http(s)://host[:port] with no path"),
        ({"SITE_NAME": " "}, "SITE_NAME must not be empty"),
    ],
)
def test_bad_settings_fail_fast_with_a_clear_message(env, message):
    result = django_setup_with(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret-from-file\n")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "marketplace.settings", "SECRET_KEY_FILE": str(secret)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "s3cret-from-file"


def brand_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def production_env(**extra) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "ENVIRONMENT", "SECRET_KEY", "ALLOWED_HOSTS"}}
    secret = secrets.token_urlsafe(48)[:50]
    return {
        **clean,
        "ENVIRONMENT": "production",
        "SECRET_KEY": secret,
        "ALLOWED_HOSTS": "example.com",
        "SITE_URL": "https://example.com",
        **extra,
    }


def test_production_settings_pass_the_deployment_check_with_nothing_silenced():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize(
    "site_url, problem",
    [
        ("http://127.0.0.1:8000", "marketplace.E001"),
        ("http://localhost", "marketplace.E001"),
        ("http://example.com", "marketplace.W002"),
    ],
)
def test_the_deployment_check_refuses_a_local_site_url_and_warns_of_plain_http(site_url, problem):
    """Links in e-mails are built on SITE_URL; its development default would send every
    reader to their own machine."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=production_env(SITE_URL=site_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert problem in result.stdout + result.stderr
    assert (result.returncode != 0) == problem.startswith("marketplace.E")


HTTPS_SETTINGS = (
    "from django.conf import settings as s; "
    "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SECURE_SSL_REDIRECT, "
    "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
)


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, "31536000 True True True True True"),
        (
            {"SECURE_HSTS_SECONDS": "3600", "SECURE_HSTS_PRELOAD": "false", "SECURE_SSL_REDIRECT": "0"},
            "3600 True False False True True",
        ),
    ],
    ids=["defaults", "overridden"],
)
def test_production_enforces_https_by_default_and_the_environment_can_tune_it(env, expected):
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {HTTPS_SETTINGS}"],
        cwd=ROOT,
        env={**production_env(**env), "DJANGO_SETTINGS_MODULE": "marketplace.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == expected, result.stderr


def test_outside_production_nothing_forces_https():
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {HTTPS_SETTINGS}"],
        cwd=ROOT,
        env={**django_env(), "ENVIRONMENT": "development"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "0 False False False False False", result.stderr


@pytest.mark.django_db
def test_the_health_check_answers_plain_http_when_everything_else_redirects(client, settings):
    """Load balancers probe inside the network over plain HTTP."""
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/").status_code == 301
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_a_working_api_key(capsys, settings):
    settings.DEMO_MODE = True
    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out
    [first_key] = [line.removeprefix("API key: ") for line in first.splitlines() if line.startswith("API key: ")]
    [second_key] = [line.removeprefix("API key: ") for line in second.splitlines() if line.startswith("API key: ")]

    assert Brand.objects.filter(slug="demo").count() == 1
    assert AgentProfile.objects.count() == 5
    for n in range(1, 6):
        assert User.objects.get(email=f"agent{n}@demo.test").check_password("demo-pass-123")
    supervisor = User.objects.get(email="supervisor@demo.test")
    assert supervisor.role == "supervisor" and supervisor.check_password("demo-pass-123")

    assert brand_client(second_key).post("/api/v1/tickets/", TICKET_BODY, format="json").status_code == 201


@pytest.mark.django_db
def test_seed_demo_key_is_random_and_a_reseed_revokes_the_previous_one(capsys, settings):
    """Not derived from SECRET_KEY: knowing the secret (or an old terminal's output) gives
    no working key."""
    keys = []
    for _ in range(2):
        call_command("seed_demo")
        keys += [
            line.removeprefix("API key: ")
            for line in capsys.readouterr().out.splitlines()
            if line.startswith("API key: ")
        ]
    first, second = keys

    assert first != second and first.startswith("mk_demo_") and second.startswith("mk_demo_")
    assert brand_client(first).get("/api/v1/tickets/1/").json()["error"]["code"] == "unauthenticated"
    assert brand_client(second).get("/api/v1/tickets/1/").json()["error"]["code"] == "ticket_not_found"
    demo = Brand.objects.get(slug="demo")
    assert demo.api_keys.filter(revoked_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_seed_demo_makes_the_supervisor_a_plain_supervisor_outside_the_admin(capsys):
    """An earlier seed made the demo supervisor staff with view rights in /admin/, where no
    list is limited to their brands. A re-seed takes that back."""
    call_command("seed_demo")
    supervisor = User.objects.get(email="supervisor@demo.test")
    supervisor.is_staff = True
    supervisor.save()
    supervisor.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))

    call_command("seed_demo")

    supervisor = User.objects.get(email="supervisor@demo.test")
    assert (supervisor.role, supervisor.is_staff, supervisor.is_superuser) == ("supervisor", False, False)
    assert not supervisor.user_permissions.exists() and not supervisor.get_all_permissions()
    assert list(supervisor.supervised_brands.values_list("slug", flat=True)) == ["demo"]


@pytest.mark.django_db
def test_seed_demo_outside_demo_mode_sets_no_known_password(settings):
    settings.DEMO_MODE = False
    call_command("seed_demo")
    assert not User.objects.get(email="agent1@demo.test").check_password("demo-pass-123")


@pytest.mark.django_db
def test_create_brand_api_key_prints_a_working_key_once(brand, capsys):
    call_command("create_brand_api_key", "acme", "--label", "assistant")
    key = capsys.readouterr().out.strip().removeprefix("API key: ")
    stored = brand.api_keys.get(label="assistant")
    assert key not in (stored.key_hash, stored.prefix)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.post("/api/v1/tickets/", TICKET_BODY, format="json").status_code == 201


@pytest.mark.django_db
def test_create_brand_api_key_for_an_unknown_brand_says_which_exist(brand):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="known: acme"):
        call_command("create_brand_api_key", "nope")


@pytest.mark.parametrize("environment", ["development", "production"])
def test_only_the_test_environment_uses_the_fast_password_hasher(environment):
    env = production_env() if environment == "production" else {**django_env(), "ENVIRONMENT": environment}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.contrib.auth.hashers import get_hasher; print(get_hasher().algorithm)",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "marketplace.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "pbkdf2_sha256", result.stderr


def postgresql_database_settings(code: str, prefix: str, env: dict) -> str:
    """What `code` prints of `db` (the default database's settings) for a PostgreSQL
    DATABASE_URL, with the variables starting with `prefix` only as `env` sets them."""
    clean = {k: v for k, v in django_env().items() if not k.startswith(prefix)}
    result = subprocess.run(
        [sys.executable, "-c", f"from django.conf import settings; db = settings.DATABASES['default']; {code}"],
        cwd=ROOT,
        env={**clean, "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/anything", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "env, pooled",
    [
        ({}, True),
        ({"DB_POOL": "false"}, False),
        ({"DB_POOL": "true", "DB_POOL_MAX": "7"}, True),
    ],
)
def test_a_postgresql_database_is_pooled_unless_turned_off(env, pooled):
    out = postgresql_database_settings(
        "print(db['ENGINE'], db['CONN_HEALTH_CHECKS'], db['CONN_MAX_AGE'], db.get('OPTIONS', {}).get('pool'))",
        "DB_POOL",
        env,
    )
    engine, checks, max_age, pool = out.strip().split(" ", 3)
    if pooled:
        assert pool == f"{{'min_size': 2, 'max_size': {env.get('DB_POOL_MAX', '10')}}}"
        assert max_age == "0"
        # The pool's connections are checked by the backend, without a round trip.
        assert (engine, checks) == ("marketplace.postgresql", "False")
    else:
        assert pool == "None"
        assert (engine, checks) == ("django.db.backends.postgresql", "True")


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, "True 1"),
        ({"DB_PREPARE_THRESHOLD": "5"}, "True 5"),
        ({"DB_PREPARED_STATEMENTS": "false"}, "None None"),
    ],
)
def test_a_postgresql_database_prepares_its_statements_unless_turned_off(env, expected):
    out = postgresql_database_settings(
        "o = db.get('OPTIONS', {}); print(o.get('server_side_binding'), o.get('prepare_threshold'))",
        "DB_PREPARE",
        env,
    )
    assert out.strip() == expected


@pytest.mark.parametrize("threshold", ["-1", "0"])
def test_a_bad_prepare_threshold_is_refused(threshold):
    # 0 would prepare a migration's string of several commands, which PostgreSQL refuses.
    result = django_setup_with(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/anything", DB_PREPARE_THRESHOLD=threshold
    )
    assert result.returncode != 0
    assert "DB_PREPARE_THRESHOLD must be >= 1" in result.stderr


@pytest.mark.django_db
def test_a_statement_run_again_is_prepared_on_the_connection(brand):
    """PostgreSQL keeps the plan of a statement the connection runs often, instead of
    planning it again on every call."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall() if "marketplace_brand" in row[0]]

    before = prepared()
    for _ in range(threshold + 1):
        assert Brand.objects.filter(pk=brand.pk).values_list("slug", flat=True).get() == brand.slug
    assert len(prepared()) == len(before) + 1
