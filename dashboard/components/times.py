"""Times on screen: UTC from the API shown in the display zone (Europe/London), "2 h ago", and
when something falls due ("today" is the service clock's date in that zone, never the machine's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from telehub.domain import clock

# Chart ranges a nurse can pick, in days.
RANGES_DAYS = (7, 30, 90, 365)
# Up to this many days the chart shows every reading; longer ranges ask the API for
# daily buckets (min/max/mean), so a year loads as fast as a week.
RAW_MAX_DAYS = 30


def parse_time(value: str | datetime) -> datetime:
    """An aware datetime from an API timestamp ("2026-11-22T08:01:00Z"); naive means UTC."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def to_local(value: str | datetime, zone: ZoneInfo) -> datetime:
    """The instant in the display zone."""
    return parse_time(value).astimezone(zone)


def format_local(value: str | datetime | None, zone: ZoneInfo, *, with_zone: bool = True) -> str:
    """'Sun 29 Mar 2026 02:30 BST': the instant in the display zone, with GMT/BST named."""
    if value is None:
        return "—"
    local = to_local(value, zone)
    text = local.strftime("%a %d %b %Y %H:%M")
    return f"{text} {local.tzname()}" if with_zone else text


def until_text(value: str | datetime | None, zone: ZoneInfo) -> str:
    """'until 17 Dec' for something in force through 17 December (it ends at the midnight
    that starts the 18th, local time), 'until 17 Dec 14:00' when it ends during a day."""
    if value is None:
        return ""
    local = to_local(value, zone)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        last = local.date() - timedelta(days=1)
        return f"until {last.day} {last:%b}"
    return f"until {local.day} {local:%b %H:%M}"


def time_ago(value: str | datetime | None, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '2 h ago', '3 d ago' ('never' for no time)."""
    if value is None:
        return "never"
    now = now or clock.now()
    seconds = (now - parse_time(value)).total_seconds()
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


@dataclass(frozen=True)
class ChartWindow:
    """The readings request for a chart range: from, to and the bucket ('raw' or 'day')."""

    start: datetime
    end: datetime
    bucket: str


def chart_window(days: int, now: datetime | None = None) -> ChartWindow:
    """The window for the last `days` days; long ranges are bucketed by day."""
    if days not in RANGES_DAYS:
        raise ValueError(f"range must be one of {RANGES_DAYS} days, not {days}")
    end = now or clock.now()
    return ChartWindow(end - timedelta(days=days), end, "raw" if days <= RAW_MAX_DAYS else "day")


def local_day_start(day: datetime, zone: ZoneInfo) -> datetime:
    """Midnight in the display zone of the day `day` falls on, as a UTC instant."""
    local = to_local(day, zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return midnight.astimezone(UTC)


def month_span(today: date, months: int) -> tuple[str, str]:
    """('2026-06', '2026-11'): the first and last month of the last `months` months."""
    index = today.year * 12 + today.month - 1 - (months - 1)
    return f"{index // 12:04d}-{index % 12 + 1:02d}", f"{today.year:04d}-{today.month:02d}"


def is_overdue(due: date | None, today: date) -> bool:
    """Whether something due on `due` is late on `today` (due today is not yet overdue)."""
    return due is not None and due < today


def due_words(due: date, today: date) -> str:
    """'overdue', 'today' or 'later': where `due` stands on `today`, the service's local date."""
    if is_overdue(due, today):
        return "overdue"
    return "today" if due == today else "later"
