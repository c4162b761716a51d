import mimetypes

from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self):
        # Browsers expect the PWA manifest with its own type; Python's table lacks it.
        mimetypes.add_type("application/manifest+json", ".webmanifest")
