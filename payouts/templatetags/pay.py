"""Money on the pay pages: the currency code and the amount in the active language's number
format ("SEK 1,234.50", in Swedish "SEK 1 234,50")."""

from django import template
from django.utils.formats import number_format

from ..models import MINOR_UNIT_EXPONENT, minor_to_decimal

register = template.Library()


def format_money(amount_minor: int, currency: str, *, signed: bool = False) -> str:
    exponent = MINOR_UNIT_EXPONENT.get(currency, 2)
    number = number_format(
        abs(minor_to_decimal(amount_minor, currency)), decimal_pos=exponent, use_l10n=True, force_grouping=True
    )
    sign = "−" if amount_minor < 0 else ("+" if signed and amount_minor > 0 else "")
    return f"{sign}{currency} {number}"


@register.filter
def money(amount_minor: int | None, currency: str) -> str:
    """{{ amount_minor|money:currency }}"""
    return "" if amount_minor is None else format_money(amount_minor, currency)


@register.filter
def signed_money(amount_minor: int | None, currency: str) -> str:
    """{{ amount_minor|signed_money:currency }}: "+SEK 45.00" for a credit, "−SEK 45.00" for a reversal."""
    return "" if amount_minor is None else format_money(amount_minor, currency, signed=True)
