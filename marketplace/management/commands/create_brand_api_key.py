from django.core.management.base import BaseCommand, CommandError

from marketplace.models import Brand
from marketplace.services import brand_api_key_create


class Command(BaseCommand):
    help = "Create an API key for a brand and print it. Only its hash is stored: copy it now."

    def add_arguments(self, parser):
        parser.add_argument("brand", help="brand slug")
        parser.add_argument("--label", default="", help="what the key is for, e.g. 'assistant-prod'")

    def handle(self, *args, brand, label, **options):
        found = Brand.objects.filter(slug=brand).first()
        if found is None:
            known = ", ".join(Brand.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No brand with slug {brand!r} (known: {known}).")
        key = brand_api_key_create(brand=found, label=label)
        self.stdout.write(f"API key: {key}")
        self.stderr.write("This key is shown once; store it in the brand system's secrets now.")
