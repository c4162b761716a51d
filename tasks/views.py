from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import get_language_info

from agents.views.supervisor import supervisor_required
from marketplace.i18n import supported_language

from . import selectors
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
    return render(
        request,
        "chat/customer.html",
        {"ticket": ticket, "ws_path": f"/ws/customer/{token}/", "language_name": language_name(ticket.language)},
    )


def language_name(code: str) -> str:
    """Name of a language tag, in the page's language, for "nobody who speaks ... is
    online"; the tag itself for languages Django does not know."""
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code


@supervisor_required
def supervisor_ticket(request, ticket_id: int):
    """One ticket of a brand the supervisor supervises (the link in the "found no agent in
    time" e-mail): its matching, what widening did, and where it stands. Not the
    conversation: that is the customer's and the agent's."""
    ticket = selectors.supervisor_ticket(user=request.user, ticket_id=ticket_id)
    if ticket is None:
        raise Http404
    return render(
        request,
        "supervisor/ticket.html",
        {"ticket": ticket, "matching": selectors.widening_summary(ticket), "events": list(ticket.events.all())},
    )
