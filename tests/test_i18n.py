"""The interface speaks English and Swedish: catalogues complete and current, the language
follows the browser, the switcher and, on a customer chat, the ticket."""

import gettext
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from marketplace.i18n import shipped_languages

from .factories import TicketFactory

ROOT = Path(settings.BASE_DIR)
DOMAINS = ("django", "djangojs")
IGNORED = [".venv", "node_modules", "staticfiles", "test-output", "static/vendor", "tests"]


def catalogue(lang: str, domain: str) -> Path:
    return ROOT / "locale" / lang / "LC_MESSAGES" / f"{domain}.po"


def msgids(po: Path) -> set[str]:
    """The msgids of a .po file, compiled by msgfmt so the parsing is GNU gettext's own. msgfmt
    leaves out untranslated and fuzzy entries, so msgen first fills every msgstr with its msgid
    and --use-fuzzy keeps the fuzzy ones: a string just collected counts too."""
    mo = po.with_suffix(".check.mo")
    filled = subprocess.run(["msgen", str(po)], capture_output=True, check=True).stdout
    subprocess.run(["msgfmt", "--use-fuzzy", "-o", str(mo), "-"], input=filled, check=True)
    try:
        with mo.open("rb") as fh:
            return {key if isinstance(key, str) else key[0] for key in gettext.GNUTranslations(fh)._catalog} - {""}
    finally:
        mo.unlink()


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("lang", shipped_languages())
def test_every_marked_string_is_translated(lang, domain):
    po = catalogue(lang, domain)
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)], capture_output=True, text=True, check=True
    )
    # msgfmt reports "N translated messages." and, when any are missing, "M untranslated" / "K fuzzy".
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, (
        f"{po.relative_to(ROOT)}: {result.stderr.strip()}; translate the empty entries and run `make messages`"
    )


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("lang", shipped_languages())
def test_compiled_catalogue_matches_its_source(lang, domain):
    po = catalogue(lang, domain)
    with po.with_suffix(".mo").open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)._catalog
    fresh = po.with_suffix(".fresh.mo")
    subprocess.run(["msgfmt", "-o", str(fresh), str(po)], check=True)
    try:
        with fresh.open("rb") as fh:
            expected = gettext.GNUTranslations(fh)._catalog
    finally:
        fresh.unlink()
    assert compiled == expected, f"{po.with_suffix('.mo').relative_to(ROOT)} is stale: run `make messages`"


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("lang", shipped_languages())
def test_catalogues_hold_every_string_the_sources_mark(lang, domain, monkeypatch, settings):
    # makemessages into a copy of the catalogues: new marked strings show up as new msgids.
    # It writes a source's strings to the first locale path whose parent directory holds the
    # source, and puts every locale/ it walks past first; so the copy sits beside locale/ and
    # locale/ is skipped. Otherwise the real catalogue is written to and then compared with
    # itself, which always passes and leaves it changed.
    copy = Path(tempfile.mkdtemp(prefix=".locale-check-", dir=ROOT))
    try:
        shutil.copytree(ROOT / "locale", copy, dirs_exist_ok=True)
        settings.LOCALE_PATHS = [copy]
        monkeypatch.chdir(ROOT)
        call_command(
            "makemessages",
            locale=[lang],
            domain=domain,
            ignore_patterns=[*IGNORED, copy.name, "locale"],
            no_obsolete=True,
            no_location=True,
            verbosity=0,
        )
        missing = msgids(copy / lang / "LC_MESSAGES" / f"{domain}.po") - msgids(catalogue(lang, domain))
    finally:
        shutil.rmtree(copy)
    assert not missing, f"not in locale/{lang}/LC_MESSAGES/{domain}.po, run `make messages`: {sorted(missing)[:10]}"


@pytest.mark.django_db
def test_pages_follow_the_browser_language(client):
    swedish = client.get("/", HTTP_ACCEPT_LANGUAGE="sv-SE,sv;q=0.9,en;q=0.5")
    assert swedish["Content-Language"] == "sv"
    assert b'<html lang="sv">' in swedish.content
    english = client.get("/", HTTP_ACCEPT_LANGUAGE="en-GB")
    assert english["Content-Language"] == "en"


@pytest.mark.django_db
def test_the_switcher_overrides_the_browser(client):
    response = client.post("/i18n/setlang/", {"language": "sv", "next": "/"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert page["Content-Language"] == "sv"


@pytest.mark.django_db
def test_the_switcher_refuses_a_language_that_is_not_shipped(client):
    client.post("/i18n/setlang/", {"language": "xx", "next": "/"})
    assert client.get("/", HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "en"


@pytest.mark.django_db
def test_customer_chat_speaks_the_tickets_language(client, brand):
    ticket = TicketFactory(brand=brand, language="sv")
    page = client.get(f"/chat/{ticket.customer_token}/", HTTP_ACCEPT_LANGUAGE="en")
    assert page["Content-Language"] == "sv"
    assert b"/jsi18n/?lang=sv" in page.content


@pytest.mark.django_db
def test_customer_chat_in_a_language_without_translation_follows_the_browser(client, brand):
    ticket = TicketFactory(brand=brand, language="de")
    page = client.get(f"/chat/{ticket.customer_token}/", HTTP_ACCEPT_LANGUAGE="sv")
    assert page["Content-Language"] == "sv"


@pytest.mark.django_db
def test_customer_who_picked_a_language_keeps_it_on_the_chat(client, brand):
    ticket = TicketFactory(brand=brand, language="sv")
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert client.get(f"/chat/{ticket.customer_token}/")["Content-Language"] == "en"


@pytest.mark.django_db
def test_script_catalogue_serves_the_asked_language(client):
    swedish = client.get("/jsi18n/?lang=sv", HTTP_ACCEPT_LANGUAGE="en")
    assert swedish.status_code == 200 and swedish["Content-Type"].startswith("text/javascript")
    english = client.get("/jsi18n/?lang=en", HTTP_ACCEPT_LANGUAGE="sv")
    assert english.status_code == 200
    assert swedish.content != english.content
