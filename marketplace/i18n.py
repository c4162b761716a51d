from django.utils import translation


def supported_language(code: str | None) -> str | None:
    """The interface language for a BCP-47 tag ("sv-SE" -> "sv"), or None when not shipped."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code.strip().lower())
    except LookupError:
        return None


def shipped_languages() -> list[str]:
    """Every interface language but the one the source text is written in."""
    from django.conf import settings

    return [code for code, _ in settings.LANGUAGES if code != "en"]
