"""While a customer waits: the address to tell them at when an agent answers."""

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction

from marketplace.errors import Conflict, DomainError

from ..models import Ticket

EMAIL_MAX_CHARS = 254


def clean_notify_email(email: object) -> str:
    if not isinstance(email, str) or len(email.strip()) > EMAIL_MAX_CHARS:
        raise DomainError("invalid_email", "Give an e-mail address of at most 254 characters.")
    email = email.strip()
    try:
        EmailValidator()(email)
    except ValidationError:
        raise DomainError("invalid_email", "That does not look like an e-mail address.") from None
    return email


def ticket_notify_email_set(*, ticket: Ticket, email: str) -> Ticket:
    """Keep the address a waiting customer left, to e-mail them a link back to the chat
    when an agent accepts (tasks.jobs.ticket_answered_email_send). A later address
    replaces an earlier one. Only while the ticket waits: once an agent has it, the
    customer is told in the chat.

    Locks: the ticket row."""
    email = clean_notify_email(email)
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if not locked.is_waiting:
            raise Conflict(
                "ticket_not_waiting", f"This conversation is {locked.status}; no need to wait for an e-mail."
            )
        locked.notify_email = email
        locked.notify_email_sent_at = None
        locked.save(update_fields=["notify_email", "notify_email_sent_at"])
    return locked
