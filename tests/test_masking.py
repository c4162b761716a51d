"""Payment data in free text: card numbers (with an expiry or code typed after them) and IBANs
are masked in the formats people really type; ordinary numbers and words are left alone."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.masking import mask_sensitive

# No timing assertions: examples are many and the CPU is shared.
property_test = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("card 4111111111111111 thanks", "card ••••••••••••1111 thanks"),
        ("4111 1111 1111 1111", "••••••••••••1111"),
        ("5500-0000-0000-0004", "••••••••••••0004"),
        ("IBAN SE45 5000 0000 0583 9825 7466 please", "IBAN SE45••••••••••••••••7466 please"),
        ("DE89370400440532013000", "DE89••••••••••••••3000"),
    ],
)
def test_card_numbers_and_ibans_are_masked(text, expected):
    assert mask_sensitive(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4111 1111 1111 1111 12/27 123", "••••••••••••1111 ••/•• •••"),
        ("4111111111111111 exp 12/27 cvv 123", "••••••••••••1111 exp ••/•• cvv •••"),
        ("my card: 3782 822463 10005, cvc 1234.", "my card: •••••••••••0005, cvc ••••."),
        ("4111111111111111 CVV: 123, expires 03/2029", "••••••••••••1111 CVV: •••, expires ••/••••"),
    ],
)
def test_expiry_and_security_code_after_a_card_number_are_masked_too(text, expected):
    assert mask_sensitive(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4111.1111.1111.1111", "••••••••••••1111"),
        ("4111/1111/1111/1111", "••••••••••••1111"),
        ("4111  1111  1111  1111", "••••••••••••1111"),
        ("4111 - 1111 - 1111 - 1111", "••••••••••••1111"),
        ("old visa 4222 2222 2222 2 ok", "old visa •••••••••2222 ok"),
    ],
)
def test_card_numbers_grouped_with_dots_slashes_or_double_spaces_are_masked(text, expected):
    assert mask_sensitive(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("se35 5000 0000 0549 1000 0003", "SE35••••••••••••••••0003"),
        ("DE89-3704-0044-0532-0130-00", "DE89••••••••••••••3000"),
        ("IBAN: de89.3704.0044.0532.0130.00.", "IBAN: DE89••••••••••••••3000."),
        ("gb82 west 1234 5698 7654 32 thanks", "GB82••••••••••••••5432 thanks"),
    ],
)
def test_lower_case_and_dashed_ibans_are_masked(text, expected):
    assert mask_sensitive(text) == expected


def test_iban_with_a_mistyped_check_digit_is_still_masked():
    # Still the customer's account number in all but one digit.
    assert mask_sensitive("SE99 5000 0000 0583 9825 7466") == "SE99••••••••••••••••7466"


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567890123 is late",  # 13 digits, fails the Luhn check
        "order #4111111111111112 never arrived",  # 16 digits, fails the Luhn check
        "call me at +46 70 123 45 67",
        "call +1 (555) 123-4567 or 070-123 45 67",
        "+44 20 7946 0958 after 18:00",
        "It cost 1 299,00 kr, then $1,299.99 and SEK 12 499",
        "delivered 2024-01-15, due 15.01.2024 or 01/15/2024 at 10:30",
        "tracking 0046 7012 3456 7890 1",  # starts with 0: not a card whatever the check digit
        "reference AB12 is fine",
        "at12 the office, see room de12 abcd and code 1234",
        "nothing here",
    ],
)
def test_ordinary_numbers_and_words_are_left_alone(text):
    assert mask_sensitive(text) == text


# --- Properties ----------------------------------------------------------------------------


def luhn_complete(partial: str) -> str:
    """`partial` with the check digit that makes it pass the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(partial)):
        value = int(char)
        if index % 2 == 0:  # doubled: the check digit will shift everything one place
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return partial + str((10 - total % 10) % 10)


# Issuer ranges (IIN prefixes) and the lengths each issues. Maestro also issues 12-digit
# numbers; below 13 digits nothing is masked (too many ordinary numbers look like that).
ISSUERS = [
    ("visa", st.just("4"), [13, 16, 19]),
    ("mastercard", st.integers(51, 55).map(str), [16]),
    ("mastercard 2-series", st.integers(2221, 2720).map(str), [16]),
    ("amex", st.sampled_from(["34", "37"]), [15]),
    ("diners", st.sampled_from(["36", "300", "305"]), [14]),
    ("discover", st.sampled_from(["6011", "644", "649", "65"]), [16, 17, 18, 19]),
    ("jcb", st.integers(3528, 3589).map(str), [16, 17, 18, 19]),
    ("maestro", st.sampled_from(["5018", "5020", "5038", "5893", "6304", "6759", "6761", "6763"]), list(range(13, 20))),
    ("unionpay", st.just("62"), [16, 17, 18, 19]),
]


@st.composite
def card_numbers(draw) -> str:
    _, prefixes, lengths = draw(st.sampled_from(ISSUERS))
    prefix = draw(prefixes)
    length = draw(st.sampled_from(lengths))
    body = draw(st.text(alphabet="0123456789", min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1))
    return luhn_complete(prefix + body)


def printed_groups(number: str) -> list[str]:
    """The layouts cards are printed and typed in: 4-6-5 (Amex), 4-6-4 (Diners), 4-4-4-1 for
    old 13-digit Visa, otherwise fours with a short remainder joined to the last group."""
    if len(number) in (14, 15):
        return [number[:4], number[4:10], number[10:]]
    groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    if len(number) in (17, 18):
        groups[-2:] = [groups[-2] + groups[-1]]
    return groups


SEPARATORS = [" ", "  ", "-", ".", "/", " - "]
CARD_SENTENCES = ["{}", "My card is {} thanks", "card: {}.", "Please charge {}, then call me", "kortnummer {} tack"]


@st.composite
def card_tails(draw) -> str:
    month = draw(st.integers(1, 12))
    year = draw(st.sampled_from([f"{draw(st.integers(24, 39))}", f"20{draw(st.integers(24, 39))}"]))
    expiry = f"{month:02d}/{year}"
    code = draw(st.text(alphabet="0123456789", min_size=3, max_size=4))
    template = draw(
        st.sampled_from(
            [
                "",
                " {expiry} {code}",
                " exp {expiry} cvv {code}",
                " exp. {expiry}",
                ", cvc: {code}",
                " valid thru {expiry}",
                " CVV {code} expires {expiry}",
            ]
        )
    )
    return template.format(expiry=expiry, code=code)


@st.composite
def typed_cards(draw) -> tuple[str, str]:
    """(text containing a card number as a customer might type it, the card number)."""
    number = draw(card_numbers())
    layout = draw(st.sampled_from(["compact", "grouped"]))
    rendered = number if layout == "compact" else draw(st.sampled_from(SEPARATORS)).join(printed_groups(number))
    sentence = draw(st.sampled_from(CARD_SENTENCES))
    return sentence.format(rendered + draw(card_tails())), number


@given(typed_cards())
@property_test
def test_typed_card_numbers_keep_only_their_last_four_digits(case):
    text, number = case
    masked = mask_sensitive(text)
    # The sentences hold no digits of their own, so every digit left must be the last four:
    # nothing of the number beyond them, and nothing of the expiry or the code.
    assert re.sub(r"\D", "", masked) == number[-4:], masked
    assert number[-4:] in masked


# Per-country IBAN account-number structure from the SWIFT IBAN registry:
# n digits, a upper-case letters, c letters or digits.
IBAN_FORMATS = {
    "AD": "4n4n12c",
    "AE": "3n16n",
    "AT": "5n11n",
    "BE": "3n7n2n",
    "BG": "4a4n2n8c",
    "BR": "8n5n10n1a1c",
    "CH": "5n12c",
    "CY": "3n5n16c",
    "CZ": "4n16n",
    "DE": "8n10n",
    "DK": "4n9n1n",
    "EE": "2n14n",
    "ES": "4n4n1n1n10n",
    "FI": "3n11n",
    "FR": "5n5n11c2n",
    "GB": "4a6n8n",
    "GR": "3n4n16c",
    "HR": "7n10n",
    "HU": "3n4n1n15n1n",
    "IE": "4a6n8n",
    "IS": "4n2n6n10n",
    "IT": "1a5n5n12c",
    "LT": "5n11n",
    "LU": "3n13c",
    "LV": "4a13c",
    "MT": "4a5n18c",
    "NL": "4a10n",
    "NO": "4n6n1n",
    "PL": "8n16n",
    "PT": "4n4n11n2n",
    "RO": "4a16c",
    "SA": "2n18c",
    "SE": "3n16n1n",
    "SI": "5n8n2n",
    "SK": "4n6n10n",
    "TR": "5n1n16c",
    "UA": "6n19c",
}
CHARSETS = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "c": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def iban_check_digits(country: str, body: str) -> str:
    """ISO 7064 mod 97-10 over body + country + "00", letters as 10..35."""
    rearranged = body + country + "00"
    number = int("".join(str(int(char, 36)) for char in rearranged))
    return f"{98 - number % 97:02d}"


@st.composite
def ibans(draw) -> str:
    country = draw(st.sampled_from(sorted(IBAN_FORMATS)))
    body = ""
    for count, kind in re.findall(r"(\d+)([nac])", IBAN_FORMATS[country]):
        size = int(count)
        body += draw(st.text(alphabet=CHARSETS[kind], min_size=size, max_size=size))
    return country + iban_check_digits(country, body) + body


IBAN_SENTENCES = ["{}", "IBAN {} please", "Send it to {}.", "konto: {}, tack", "My account is {} thanks"]


@st.composite
def typed_ibans(draw) -> tuple[str, str]:
    number = draw(ibans())
    layout = draw(st.sampled_from(["compact", "grouped"]))
    if layout == "compact":
        rendered = number
    else:
        rendered = draw(st.sampled_from(SEPARATORS)).join(number[i : i + 4] for i in range(0, len(number), 4))
    if draw(st.booleans()):
        rendered = rendered.lower()
    return draw(st.sampled_from(IBAN_SENTENCES)).format(rendered), number


def test_generated_ibans_are_valid_for_their_country():
    # The generator's own check: a known IBAN comes out with its published check digits.
    assert iban_check_digits("DE", "370400440532013000") == "89"
    assert iban_check_digits("GB", "WEST12345698765432") == "82"


@given(typed_ibans())
@property_test
def test_typed_ibans_keep_only_their_country_check_digits_and_last_four(case):
    text, number = case
    body = number[4:]
    masked = mask_sensitive(text)
    visible = masked.upper()
    for start in range(len(body) - 4):
        assert body[start : start + 5] not in visible, masked
    assert body[-4:] in visible and number[:4] in visible, masked


def digits(count: int):
    return st.text(alphabet="0123456789", min_size=count, max_size=count)


@st.composite
def phone_numbers(draw) -> str:
    template = draw(
        st.sampled_from(
            [
                "+46 7{1} {3} {2} {2}",
                "07{1}-{3} {2} {2}",
                "+1 ({3}) {3}-{4}",
                "+44 {2} {4} {4}",
                "+49 {4} {7}",
                "+33 {1} {2} {2} {2} {2}",
            ]
        )
    )
    return re.sub(r"\{(\d)\}", lambda match: draw(digits(int(match.group(1)))), template)


@st.composite
def dates_and_times(draw) -> str:
    moment = draw(st.datetimes())
    return moment.strftime(draw(st.sampled_from(["%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%d/%m/%Y %H:%M", "%Y%m%d"])))


@st.composite
def prices(draw) -> str:
    amount = draw(st.integers(0, 10**8))
    cents = draw(st.integers(0, 99))
    return draw(
        st.sampled_from(
            [
                f"{amount:,} kr".replace(",", " "),
                f"${amount:,}.{cents:02d}",
                f"SEK {amount}",
                f"{amount:,},{cents:02d} €",
            ]
        )
    )


@st.composite
def order_numbers_failing_luhn(draw) -> str:
    length = draw(st.integers(13, 19))
    valid = luhn_complete(draw(st.sampled_from("123456789")) + draw(digits(length - 2)))
    return valid[:-1] + str((int(valid[-1]) + draw(st.integers(1, 9))) % 10)


@given(
    st.lists(
        st.one_of(phone_numbers(), dates_and_times(), prices(), order_numbers_failing_luhn()), min_size=1, max_size=4
    )
)
@property_test
def test_phone_numbers_dates_prices_and_order_numbers_survive(parts):
    text = "Hi, " + ", then ".join(parts) + " please"
    assert mask_sensitive(text) == text
