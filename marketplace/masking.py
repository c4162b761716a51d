"""Mask payment data in free text before it is stored or shown.

Customers paste card numbers and IBANs into chats; agents must never see them in full.
"""

import re

_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# Country + check digits, then the rest compact or in blocks of four (as printed on statements).
# Upper case only, as the standard writes it; otherwise ordinary words after an IBAN match too.
_IBAN = re.compile(r"\b([A-Z]{2}\d{2})((?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?)\b")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mask_card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if not 13 <= len(digits) <= 19 or not _luhn_ok(digits):
        return match.group(0)
    return "•" * (len(digits) - 4) + digits[-4:]


def _mask_iban(match: re.Match) -> str:
    body = re.sub(r"\s", "", match.group(2))
    if not any(ch.isdigit() for ch in body):
        return match.group(0)  # plain words that happen to look like one
    return match.group(1).upper() + "•" * (len(body) - 4) + body[-4:]


def mask_sensitive(text: str) -> str:
    return _CARD.sub(_mask_card, _IBAN.sub(_mask_iban, text))
