"""The agent's week as they gave it in their application: the blocks of hours they can work
(the availability step's grid) and the time zone it is read in. The shifts page suggests
the open shifts that fall inside it and shows every time in that zone."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agents.forms import BLOCKS, DAYS
from agents.models import AgentProfile, Application

DAY_KEYS = [key for key, _label in DAYS]  # Monday first, as datetime.weekday() counts
# The grid's blocks by the hour they start: "06-12" is the morning, and so on.
BLOCK_STARTS = {int(hours.split("-")[0]): key for key, hours in BLOCKS}
BLOCK_HOURS = 24 // len(BLOCKS)


@dataclass(frozen=True)
class AgentWeek:
    zone_name: str
    # False when the application names no (known) zone: times are then shown in UTC.
    zone_known: bool
    # "mon-morning", "tue-night", ...: the blocks ticked in the application; empty if none.
    blocks: frozenset[str]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.zone_name)


def agent_week(agent: AgentProfile) -> AgentWeek:
    application = Application.objects.filter(user_id=agent.user_id).only("answers").first()
    answers = application.answers if application else {}
    zone_name = str((answers.get("profile") or {}).get("time_zone") or "")
    try:
        ZoneInfo(zone_name)
        known = bool(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        known = False
    slots = (answers.get("availability") or {}).get("slots") or []
    return AgentWeek(
        zone_name=zone_name if known else "UTC",
        zone_known=known,
        blocks=frozenset(str(slot) for slot in slots),
    )


def _block(local: datetime) -> tuple[str, int]:
    """The grid key of the block a local time falls in, and the hour that block starts."""
    start = local.hour - local.hour % BLOCK_HOURS
    return f"{DAY_KEYS[local.weekday()]}-{BLOCK_STARTS[start]}", start


def within_week(starts_at: datetime, ends_at: datetime, week: AgentWeek) -> bool:
    """Every hour of [starts_at, ends_at) falls in a block the agent ticked, read in their
    zone: a shift from 22:00 to 02:00 needs that evening and the next day's night. Each
    step goes to the next block's wall-clock start and compares in UTC, so a daylight-saving
    change inside a shift is counted right."""
    if not week.blocks:
        return False
    zone = week.zone
    moment = starts_at.astimezone(UTC)
    end = ends_at.astimezone(UTC)
    while moment < end:
        local = moment.astimezone(zone)
        key, block_start = _block(local)
        if key not in week.blocks:
            return False
        wall = local.replace(tzinfo=None, hour=block_start, minute=0, second=0, microsecond=0)
        following = (wall + timedelta(hours=BLOCK_HOURS)).replace(tzinfo=zone).astimezone(UTC)
        # A wall-clock time inside a daylight-saving gap can map back; never stand still.
        moment = following if following > moment else moment + timedelta(hours=1)
    return True
