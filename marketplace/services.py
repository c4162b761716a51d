"""Writes for brands and their credentials, and for people's API login tokens."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from knox.models import get_digest_token
from knox.settings import CONSTANTS

from .adapters import password_fingerprint
from .models import ApiToken, Brand, BrandApiKey, User, hash_api_key

DEMO_KEY_LABEL = "demo"


def brand_api_key_create(*, brand: Brand, label: str = "") -> str:
    """Create a key for `brand` and return it in clear. Only its hash is stored."""
    raw, prefix, digest = BrandApiKey.generate()
    BrandApiKey.objects.create(brand=brand, label=label, prefix=prefix, key_hash=digest)
    return raw


def brand_demo_api_key_rotate(*, brand: Brand) -> str:
    """Revoke the demo brand's previous demo key and return a new random one in clear.

    The key is printed by seed_demo on every run and stored nowhere else, so a key that
    leaked from an old terminal stops working at the next seed. Locks the brand row so two
    seeds at once leave exactly one live demo key.
    """
    with transaction.atomic():
        Brand.objects.select_for_update().get(pk=brand.pk)
        BrandApiKey.objects.filter(brand=brand, label=DEMO_KEY_LABEL, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        raw = f"mk_demo_{secrets.token_urlsafe(32)}"
        BrandApiKey.objects.create(brand=brand, label=DEMO_KEY_LABEL, prefix="demo", key_hash=hash_api_key(raw))
    return raw


def api_tokens_create(*, users: list[User]) -> list[tuple[str, ApiToken]]:
    """One new API login token per user: (the token in clear, its row), in the order given.

    Only the hash is stored; each token expires after API_TOKEN_TTL_HOURS and stops
    working as soon as its user's password changes.
    """
    expiry = timezone.now() + timedelta(hours=settings.API_TOKEN_TTL_HOURS)
    created = []
    for user in users:
        digest, raw = get_digest_token()
        row = ApiToken(
            digest=digest,
            token_key=raw[: CONSTANTS.TOKEN_KEY_LENGTH],
            user=user,
            expiry=expiry,
            password_fingerprint=password_fingerprint(user),
        )
        created.append((raw, row))
    ApiToken.objects.bulk_create([row for _, row in created])
    return created


def api_token_create(*, user: User) -> tuple[str, ApiToken]:
    """A new API login token for `user` (see api_tokens_create)."""
    [created] = api_tokens_create(users=[user])
    return created
