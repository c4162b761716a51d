"""Duration histograms that can be added up in SQL, for the analytics rollups.

A percentile cannot be summed, but a histogram can: each rollup row keeps, per duration, a
count for each of the fixed bins below, and p50/p90 of any set of rows is read from the
sum of their histograms. The bins are packed into one arbitrary-precision number with 32
bits per bin (bin i is worth 2**(32*i)), stored as PostgreSQL `numeric`, so `SUM(hist)`
adds every bin of every row in one aggregate and nothing but the sum leaves the database.
A bin overflows only past 4 294 967 295 durations in one sum.

Reading a percentile follows Prometheus' histogram_quantile: find the bin holding the rank
and interpolate linearly inside it; the answer is then clamped to the smallest and largest
duration of the rows (kept beside the histogram), so a single duration reads back exactly.
"""

from bisect import bisect_right
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import models

# Lower edges of the bins, in seconds; the last bin is open-ended (30 days and more).
EDGES: tuple[int, ...] = (
    0,
    5,
    10,
    15,
    20,
    30,
    45,
    60,
    90,
    120,
    180,
    240,
    300,
    420,
    600,
    900,
    1200,
    1800,
    2700,
    3600,
    5400,
    7200,
    10800,
    14400,
    21600,
    28800,
    43200,
    64800,
    86400,
    129600,
    172800,
    259200,
    345600,
    518400,
    604800,
    864000,
    1209600,
    2592000,
)
BINS = len(EDGES)
BITS = 32
MASK = (1 << BITS) - 1


def bin_of(seconds: float) -> int:
    """The bin a duration falls in (negative durations, from clock skew, count as 0)."""
    return max(0, bisect_right(EDGES, seconds) - 1)


def unit(seconds: float) -> int:
    """The packed histogram of one duration."""
    return 1 << (BITS * bin_of(seconds))


def unpack(packed: int) -> list[int]:
    return [(packed >> (BITS * i)) & MASK for i in range(BINS)]


def pack(counts: Sequence[int]) -> int:
    packed = 0
    for i, count in enumerate(counts):
        if not 0 <= count <= MASK:
            raise ValueError(f"bin {i} holds {count}, outside 0..{MASK}")
        packed |= count << (BITS * i)
    return packed


def quantile(
    packed: int, q: float, *, low: float | None = None, high: float | None = None, total: int | None = None
) -> float | None:
    """The q-quantile (0 < q < 1) of the durations in `packed`, or None when it is empty.
    `low` and `high` are the smallest and largest duration, `total` how many, when known."""
    if total is None:
        total = sum(unpack(packed))
    if total == 0:
        return None
    rank = q * total
    below = 0
    estimate = float(EDGES[-1])
    for i in range(BINS):
        count = (packed >> (BITS * i)) & MASK
        if count and below + count >= rank:
            lower = float(EDGES[i])
            if i + 1 == BINS:
                estimate = lower
            else:
                estimate = lower + (EDGES[i + 1] - lower) * (rank - below) / count
            break
        below += count
    if low is not None:
        estimate = max(estimate, low)
    if high is not None:
        estimate = min(estimate, high)
    return estimate


class HistogramField(models.Field):
    """A packed histogram: a Python int; in PostgreSQL an unconstrained `numeric` (a
    `numeric(p, 0)` column stops at 1000 digits; 38 bins of 32 bits need 366). Embedded
    SQLite has no number that large and keeps the digits as text (the analytics need
    PostgreSQL; the column only has to exist there)."""

    description = "Packed duration histogram"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", 0)
        super().__init__(*args, **kwargs)

    def db_type(self, connection: Any) -> str:
        return "numeric" if connection.vendor == "postgresql" else "text"

    def from_db_value(self, value: Decimal | int | str | None, expression: Any, connection: Any) -> int:
        return 0 if value is None else int(value)

    def to_python(self, value: Any) -> int:
        return 0 if value is None else int(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        # psycopg sends an int too large for bigint as numeric, exactly.
        return int(value) if connection.vendor == "postgresql" else str(int(value))
