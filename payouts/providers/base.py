from dataclasses import dataclass


@dataclass(frozen=True)
class TransferResult:
    """What a provider said about one payout: its reference and whether the money has left."""

    reference: str
    paid: bool


class ProviderRefused(Exception):
    """The provider refused this payout for good (closed account, invalid destination): the
    payout fails and its money returns to the agent's available balance."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered with a server error: nothing is known
    to have happened, so the same call (same idempotency key) is tried again later."""
