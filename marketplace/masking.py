"""Mask payment data in free text before it is stored or shown.

Customers paste card numbers and IBANs into chats and brand forms; agents must never see
them and the database must never store them. `mask_sensitive` is the one function every
stored free-text field goes through. It keeps the last four characters (enough for a
customer and an agent to agree which card or account is meant) and replaces the rest.

What counts as payment data is decided by checks, not by shape alone, so ordinary
numbers survive: a card number must have 13-19 digits, a valid Luhn check digit and a
printed layout; an IBAN must have the length and account-number structure its country
registered (python-stdnum carries the SWIFT registry).
"""

import re

from stdnum import iban, luhn

# Between the groups of a number as people type it: spaces (one to three, as in "4111  1111"),
# or one dash, dot or slash, possibly with a space on either side.
_SEP = r"(?:[ \t\u00a0]{0,2}[-./][ \t\u00a0]{0,2}|[ \t\u00a0]{1,3})"
_DIGIT_RUN = re.compile(rf"(?<!\d)\d+(?:{_SEP}\d+)*")
_DIGITS = re.compile(r"\d+")

# What customers write right after a card number: an expiry date and/or the security code,
# with or without a label. Only looked for right after a masked card, where a three- or
# four-digit number is the code, not a price.
_LABEL = (
    r"(?:exp(?:iry|ires|iration)?(?:[ \t]+date)?|valid(?:[ \t]+(?:thru|through|until|till))?|"
    r"cvv2?|cvc2?|csc|cid|security[ \t]+code|code)"
)
_CARD_TAIL = re.compile(
    rf"[ \t\u00a0]*[,;:|/-]?[ \t\u00a0]*(?:(?:and|och|und|et|y)[ \t\u00a0]+)?"
    rf"(?:{_LABEL}\.?[ \t\u00a0]*[:=#]?[ \t\u00a0]*)?"
    r"(?P<value>(?:0?[1-9]|1[0-2])[ \t]?[-./][ \t]?(?:\d{4}|\d{2})|\d{3,4})(?![\d/.-]?\d)",
    re.IGNORECASE,
)
_CARD_TAIL_MAX = 2  # an expiry and a code, in either order

# An IBAN starts with a country code and two check digits; the body that follows is
# collected group by group and checked against the country's registered format.
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})")
_IBAN_GROUP = re.compile(rf"(?:{_SEP})?([A-Za-z0-9]+)")
_IBAN_BODY_MAX = 30  # the longest IBAN has 34 characters


def _hide(chars: str) -> str:
    return "•" * (len(chars) - 4) + chars[-4:]


def _card_rank(groups: list[str]) -> tuple[int, int, int] | None:
    """How much `groups` (digit groups typed one after the other) look like one card number:
    None when they cannot be one, else a sort key (printed layout, no short last group, length)."""
    digits = "".join(groups)
    if not 13 <= len(digits) <= 19 or digits[0] == "0" or not luhn.is_valid(digits):
        return None  # no payment card starts with 0 (that industry digit is not issued to banks)
    if len(groups) == 1:
        return (1, 1, len(digits))
    # One- and two-digit groups are dates, months and pairs of a phone number; inside a card
    # number they never occur, at its end only in the old 13-digit 4-4-4-1 layout, so
    # "4111 1111 1111 1111 12/27" prefers to stop before the 12 (the expiry month).
    if any(len(group) < 3 for group in groups[:-1]):
        return None
    printed = len(groups[0]) == 4 and all(len(group) <= 6 for group in groups)
    return (int(printed), int(len(groups[-1]) >= 3), len(digits))


def _find_card(run: str) -> tuple[int, int] | None:
    """The card number inside a run of digit groups, as (start, end) in `run`: the first
    group that starts one, and the most card-like of the numbers starting there."""
    spans = [match.span() for match in _DIGITS.finditer(run)]
    for first in range(len(spans)):
        best = None
        for last in range(first, len(spans)):
            groups = [run[start:end] for start, end in spans[first : last + 1]]
            if sum(map(len, groups)) > 19:
                break
            rank = _card_rank(groups)
            if rank is not None and (best is None or rank > best[0]):
                best = (rank, spans[first][0], spans[last][1])
        if best is not None:
            return best[1], best[2]
    return None


def _mask_cards(text: str) -> str:
    out = []
    pos = 0
    while match := _DIGIT_RUN.search(text, pos):
        found = _find_card(match.group(0))
        if found is None:
            out.append(text[pos : match.end()])
            pos = match.end()
            continue
        start, end = match.start() + found[0], match.start() + found[1]
        out.append(text[pos:start])
        out.append(_hide(re.sub(r"\D", "", text[start:end])))
        pos = end
        for _ in range(_CARD_TAIL_MAX):
            tail = _CARD_TAIL.match(text, pos)
            if tail is None:
                break
            out.append(text[pos : tail.start("value")])
            out.append(re.sub(r"\d", "•", tail.group("value")))
            pos = tail.end()
    out.append(text[pos:])
    return "".join(out)


def _iban_body_fits(country: str, body: str) -> bool:
    """The body has the length and structure registered for the country. The check digits
    are deliberately not required: a mistyped IBAN is still someone's account number."""
    compact = country + "00" + body
    return iban.is_valid(country + iban.calc_check_digits(compact) + body, check_country=False)


def _mask_ibans(text: str) -> str:
    out = []
    pos = 0
    while start := _IBAN_START.search(text, pos):
        country = start.group(1).upper()
        # Collect the groups that follow, then take the longest prefix that is a valid body,
        # so words after the IBAN ("… 7466 please") are left out.
        ends = []
        body = ""
        cursor = start.end()
        while group := _IBAN_GROUP.match(text, cursor):
            body += group.group(1).upper()
            if len(body) > _IBAN_BODY_MAX:
                break
            cursor = group.end()
            ends.append((cursor, body))
        for end, candidate in reversed(ends):
            if _iban_body_fits(country, candidate):
                out.append(text[pos : start.start()])
                out.append(country + start.group(2) + _hide(candidate))
                pos = end
                break
        else:
            out.append(text[pos : start.end()])
            pos = start.end()
    out.append(text[pos:])
    return "".join(out)


def mask_sensitive(text: str) -> str:
    """`text` with card numbers (and an expiry or security code typed right after them) and
    IBANs replaced by bullets, all but their last four characters."""
    return _mask_cards(_mask_ibans(text))
