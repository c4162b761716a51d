"""Writes for brands and their credentials."""

import hashlib
import hmac

from django.conf import settings
from django.db import transaction

from .models import Brand, BrandApiKey, hash_api_key


def brand_api_key_create(*, brand: Brand, label: str = "") -> str:
    """Create a key for `brand` and return it in clear. Only its hash is stored."""
    raw, prefix, digest = BrandApiKey.generate()
    BrandApiKey.objects.create(brand=brand, label=label, prefix=prefix, key_hash=digest)
    return raw


def brand_demo_api_key(*, brand: Brand) -> str:
    """The demo brand's key, derived from SECRET_KEY so that re-seeding prints the same key
    and scripts keep working. Never used for real brands."""
    secret = hmac.new(settings.SECRET_KEY.encode(), f"demo-api-key:{brand.slug}".encode(), hashlib.sha256).hexdigest()
    raw = f"mk_demo_{secret[:40]}"
    with transaction.atomic():
        BrandApiKey.objects.get_or_create(
            key_hash=hash_api_key(raw), defaults={"brand": brand, "label": "demo", "prefix": "demo"}
        )
    return raw
