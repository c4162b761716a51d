"""Deployment checks of our own settings, run by `manage.py check --deploy`."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}  # noqa: S104 (names compared, nothing bound)


@register(Tags.security, deploy=True)
def site_url_is_public(app_configs=None, **kwargs) -> list:
    """E-mails and brand systems get links on SITE_URL; its development default points at
    the machine that reads the mail, so a production install must set its own."""
    site = urlsplit(settings.SITE_URL)
    problems: list = []
    if (site.hostname or "") in LOCAL_HOSTS:
        problems.append(
            Error(
                f"SITE_URL is {settings.SITE_URL!r}: links in e-mails would point at the reader's own machine.",
                hint="Set SITE_URL to the public address, e.g. https://support.example.com.",
                id="marketplace.E001",
            )
        )
    elif site.scheme != "https":
        problems.append(
            Warning(
                f"SITE_URL {settings.SITE_URL!r} is not HTTPS: password-reset links would travel in clear text.",
                hint="Use an https:// SITE_URL.",
                id="marketplace.W002",
            )
        )
    return problems
