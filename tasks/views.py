from django.conf import settings
from django.shortcuts import render
from django.utils import translation

from marketplace.i18n import supported_language

from .models import Ticket


def customer_chat(request, token: str):
    """The customer's chat. The token in the URL is the only key to this one ticket."""
    ticket = Ticket.objects.select_related("brand").filter(customer_token=token).first()
    if ticket is None:
        return render(request, "chat/invalid.html", status=404)
    # The page speaks the ticket's language where a translation exists, unless the customer
    # picked one with the switcher; LocaleMiddleware then labels the response with it.
    if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
        language = supported_language(ticket.language)
        if language:
            translation.activate(language)
    return render(request, "chat/customer.html", {"ticket": ticket, "ws_path": f"/ws/customer/{token}/"})
