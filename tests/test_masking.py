import pytest

from marketplace.masking import mask_sensitive


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
    "text",
    [
        "order 1234567890123 is late",  # 13 digits, fails the Luhn check
        "call me at +46 70 123 45 67",
        "reference AB12 is fine",
        "nothing here",
    ],
)
def test_ordinary_numbers_are_left_alone(text):
    assert mask_sensitive(text) == text
