"""Making the history quality is computed from: resolved cases, ratings, reviews."""

from agents.models import Review
from agents.quality import services as quality
from tasks import services
from tasks.models import Resolution, Ticket

from .factories import TicketFactory


def resolve(
    agent, brand, *, subject: str = "Card declined", rating: int | None = None, confirm: bool = False
) -> Ticket:
    """A ticket handed over, offered to `agent`, accepted and resolved (and rated)."""
    ticket = TicketFactory(brand=brand, subject=subject)
    offer = services.ticket_dispatch(ticket_id=ticket.pk)
    assert offer is not None and offer.agent_id == agent.pk, "the agent must be the only one who can take it"
    services.offer_accept(agent=agent, offer_id=offer.pk)
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    ticket.refresh_from_db()
    if confirm:
        services.ticket_confirm(ticket=ticket)
    if rating is not None:
        services.ticket_rate(ticket=ticket, score=rating)
    ticket.refresh_from_db()
    return ticket


def open_review(agent, brand, *, rating: int = 1, subject: str = "Card declined") -> Review:
    """A case rated `rating` (1 or 2 is always sampled) and the review the sampler opened."""
    ticket = resolve(agent, brand, subject=subject, rating=rating)
    quality.reviews_sample_due()
    return Review.objects.get(resolution=Resolution.objects.get(ticket=ticket))


FULL = {"accuracy": 4, "empathy": 4, "policy": 4, "tone": 4}
