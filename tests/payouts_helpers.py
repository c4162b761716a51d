"""What the payout tests share: agents with money to pay out, payout methods, and the
ledger checks every payout test ends with."""

from django.db import transaction
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone

from agents.models import AgentProfile
from marketplace.models import Brand
from payouts.ledger import Owner, Purpose
from payouts.models import Earning, LedgerAccount, LedgerPosting, PayoutMethod
from payouts.selectors import agent_balances
from payouts.services import earning_credit, payout_method_set
from tasks.models import Ticket

from .factories import AgentFactory, TicketFactory

# A valid Swedish IBAN (schwifty checks it), and connected account ids as Stripe writes them.
IBANS = ["SE3550000000054910000003", "DE89370400440532013000", "SE7280000810340009783242"]


def stripe_account(n: int) -> str:
    return f"acct_1Test{n:08d}Payee"


def fund(agent: AgentProfile, brand: Brand, amount_minor: int) -> Earning:
    """Credit one resolved case of `amount_minor` and release it at once (no reopen window),
    through the earnings service, so the ledger holds it as available money."""
    ticket = TicketFactory(brand=brand, status=Ticket.Status.RESOLVED, resolved_at=timezone.now(), resolution_count=1)
    with override_settings(REOPEN_WINDOW_HOURS=0), transaction.atomic():
        return earning_credit(ticket=ticket, agent=agent, amount_minor=amount_minor)


def agent_with_money(
    brand: Brand, amount_minor: int, *, method: str = PayoutMethod.Kind.STRIPE, n: int = 0, **agent_fields
) -> AgentProfile:
    """An agent of `brand` with `amount_minor` available and an active payout method: a
    Stripe connected account, or (method="iban") a bank account."""
    agent = AgentFactory(brands=[brand], **agent_fields)
    fund(agent, brand, amount_minor)
    if method == PayoutMethod.Kind.STRIPE:
        payout_method_set(
            agent_id=agent.pk, kind=method, holder_name=agent.display_name, stripe_account=stripe_account(agent.pk)
        )
    else:
        payout_method_set(agent_id=agent.pk, kind=method, holder_name=f"Åsa Öberg {n}", iban=IBANS[n % len(IBANS)])
    return agent


def balances(agent: AgentProfile, currency: str = "SEK") -> dict[str, int]:
    """The agent's available / in payout / paid out / pending balances in minor units."""
    held = agent_balances(agent_id=agent.pk).get(currency, {})
    return {
        "available": held.get(Purpose.AGENT_AVAILABLE, 0),
        "in_payout": held.get(Purpose.AGENT_IN_PAYOUT, 0),
        "paid_out": held.get(Purpose.AGENT_PAID, 0),
        "pending": held.get(Purpose.AGENT_PENDING, 0),
    }


def fees(currency: str = "SEK") -> int:
    total = LedgerPosting.objects.filter(
        account__owner_kind=Owner.PLATFORM, account__purpose=Purpose.PLATFORM_FEES, account__currency=currency
    ).aggregate(total=Sum("amount_minor"))["total"]
    return int(total or 0)


def assert_ledger_sound() -> None:
    """Every transaction sums to zero, and no agent account and no fee account is below zero."""
    unbalanced = list(
        LedgerPosting.objects.values("transaction_id").annotate(total=Sum("amount_minor")).exclude(total=0)
    )
    assert unbalanced == [], f"transactions that do not sum to zero: {unbalanced}"
    negative = [
        (account.owner_kind, account.owner_id, account.purpose, total)
        for account in LedgerAccount.objects.filter(owner_kind__in=[Owner.AGENT, Owner.PLATFORM])
        if (total := LedgerPosting.objects.filter(account=account).aggregate(t=Sum("amount_minor"))["t"] or 0) < 0
    ]
    assert negative == [], f"accounts below zero: {negative}"
