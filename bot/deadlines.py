"""Calendar arithmetic for the legal deadlines of data-subject requests (GDPR art. 12(3))."""

import calendar
from datetime import UTC, date, datetime


def add_months(d: date, n: int) -> date:
    """Return `d` moved `n` calendar months, clamped to the month end (31 Jan + 1 -> 28/29 Feb)."""
    index = d.year * 12 + (d.month - 1) + n
    year, month0 = divmod(index, 12)
    month = month0 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(d.day, last))


def due_date(received: datetime, months: int = 1) -> date:
    """Return the last day to answer a request received at `received` (UTC calendar day).

    GDPR art. 12(3): one month from receipt, extendable by two further months. The day of
    receipt is counted in UTC; a naive datetime is refused rather than guessed.
    """
    if received.tzinfo is None or received.utcoffset() is None:
        raise ValueError("received must be a timezone-aware datetime")
    return add_months(received.astimezone(UTC).date(), months)


def is_overdue(due: date, today: date) -> bool:
    """Return True when `today` is past `due` (the due day itself is still in time)."""
    return today > due
