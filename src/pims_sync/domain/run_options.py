"""Run options: the one declaration of each option's name, default and bounds.

Every entry point derives its checks from here, so all of them accept and refuse the same
values with the same words: the API bodies (`api/sync_schemas.py`), schedules
(`domain/schedules.py`, used by the scheduler route and `pims-sync schedules`), the
`pims-sync sync` commands and the console's Run Sync form. The rule and the reasons for
it: docs/api.md#run-options.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pims_sync.domain.runs import SyncType
from pims_sync.errors import OptionError

# A window given by dates: one year, leap day included. Longer is almost always a typo,
# and would mean thousands of PIMS requests.
MAX_WINDOW_DAYS = 366
# Dates further than this from this year are typos (0226, 2206); years 1 or 9999 would
# also overflow the window arithmetic.
MAX_YEARS_AWAY = 10
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Digits enough for any bound; a longer number is refused without converting it.
_WHOLE = re.compile(r"[+-]?[0-9]{1,9}")


def attribute(name: str) -> str:
    """The Python name of an option: `daysAhead` → `days_ahead`."""
    return re.sub(r"([A-Z])", r"_\1", name).lower()


@dataclass(frozen=True, slots=True)
class CountOption:
    """A whole number (days, items) within bounds."""

    name: str
    default: int
    low: int
    high: int
    description: str

    @property
    def rule(self) -> str:
        """What a value must be, in the words every entry point shows."""
        return f"must be a whole number from {self.low} to {self.high}"

    @property
    def hint(self) -> str:
        """The bounds and default, for labels and help texts: `0–90, default 7`."""
        return f"{self.low}–{self.high}, default {self.default}"

    def check(self, value: object) -> int:
        """The value, if it is an integer within bounds (`true`, `7.0` and `"7"` are not)."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionError(self.name, self.rule)
        if not self.low <= value <= self.high:
            raise OptionError(self.name, self.rule)
        return value

    def parse(self, text: str) -> int:
        """A typed value (command line, console form): digits, then `check`."""
        text = text.strip()
        if not _WHOLE.fullmatch(text):
            raise OptionError(self.name, self.rule)
        return self.check(int(text))


@dataclass(frozen=True, slots=True)
class FlagOption:
    """A yes/no option, off unless given."""

    name: str
    description: str
    default: bool = False

    @property
    def rule(self) -> str:
        """What a value must be."""
        return "must be true or false"

    @property
    def hint(self) -> str:
        """For labels and help texts."""
        return "true or false"

    def check(self, value: object) -> bool:
        """The value, if it is a boolean (`"false"` or `0` are not: a guess could force a run)."""
        if not isinstance(value, bool):
            raise OptionError(self.name, self.rule)
        return value


@dataclass(frozen=True, slots=True)
class DayOption:
    """A clinic day, `YYYY-MM-DD`, within MAX_YEARS_AWAY years of today; no default."""

    name: str
    description: str

    @property
    def rule(self) -> str:
        """What a value must be (a real date within reach, too)."""
        return "must be a date as YYYY-MM-DD"

    @property
    def hint(self) -> str:
        """For labels and help texts."""
        return "YYYY-MM-DD"

    def check(self, value: object, today: date | None = None) -> date:
        """The day, if it is a real `YYYY-MM-DD` date within reach of today."""
        if isinstance(value, date):
            return self._within_reach(value, today)
        if not isinstance(value, str) or not _DAY.fullmatch(value.strip()):
            raise OptionError(self.name, self.rule)
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise OptionError(self.name, "is not a real date") from None
        return self._within_reach(day, today)

    def parse(self, text: str) -> date:
        """A typed day."""
        return self.check(text)

    def _within_reach(self, day: date, today: date | None) -> date:
        year = (today or datetime.now(UTC).date()).year
        first = date(year - MAX_YEARS_AWAY, 1, 1)
        last = date(year + MAX_YEARS_AWAY, 12, 31)
        if not first <= day <= last:
            raise OptionError(self.name, f"must be a day from {first} to {last}")
        return day


RunOption = CountOption | FlagOption | DayOption

# 0 is "that day only"; 90 days is a quarter, further than a clinic's calendar is firm
# (ahead) or than cases still change (back). A full run's calendar, back + ahead + today,
# is then at most 181 days: always inside MAX_WINDOW_DAYS.
DAYS_AHEAD = CountOption(
    "daysAhead", 7, 0, 90, "Days after the start day (default today) to sync; 0: that day only"
)
LOOKBACK_DAYS = CountOption(
    "lookbackDays", 7, 0, 90, "Days back from today to sync or check; 0: today only"
)
PARALLEL_BATCH_SIZE = CountOption(
    "parallelBatchSize", 5, 1, 50, "Consultations fetched at once by the cases phase"
)
FORCE = FlagOption("force", "Proceed past the mass-deletion guard of reconciliation")
DRY_RUN = FlagOption("dryRun", "Report what reconciliation would change; change nothing")
START_DATE = DayOption("startDate", "First clinic day")
END_DATE = DayOption("endDate", "Last clinic day")

OPTIONS: dict[str, RunOption] = {
    option.name: option
    for option in (
        START_DATE,
        END_DATE,
        DAYS_AHEAD,
        LOOKBACK_DAYS,
        PARALLEL_BATCH_SIZE,
        FORCE,
        DRY_RUN,
    )
}
# Options a person types (flags are switches: `--force`, never a typed value).
TYPED_OPTIONS: dict[str, CountOption | DayOption] = {
    name: option for name, option in OPTIONS.items() if not isinstance(option, FlagOption)
}
# What each type of run takes (the others are ignored by the API, as the original did).
OPTIONS_BY_TYPE: dict[SyncType, tuple[str, ...]] = {
    SyncType.INBOUND: ("startDate", "endDate", "daysAhead"),
    SyncType.CASES: ("startDate", "endDate", "parallelBatchSize"),
    SyncType.RECONCILIATION: ("lookbackDays", "force", "dryRun"),
    SyncType.FULL: ("startDate", "daysAhead", "lookbackDays", "parallelBatchSize", "force"),
}
# A schedule fires again and again: its options are relative to the fire time, no dates.
SCHEDULE_OPTIONS: dict[str, CountOption | FlagOption] = {
    name: option for name, option in OPTIONS.items() if not isinstance(option, DayOption)
}


def options_hint(options: Mapping[str, RunOption]) -> str:
    """`daysAhead (0–90, default 7), force (true or false)`, for help texts."""
    return ", ".join(f"{name} ({option.hint})" for name, option in options.items())


def check_window(first: date | None, last: date | None, *, names: tuple[str, str]) -> None:
    """OptionError (on the last day's name) unless first … last is a window of the rule."""
    if first is None or last is None:
        return
    if last < first:
        raise OptionError(names[1], f"must not be before {names[0]}")
    if (last - first).days + 1 > MAX_WINDOW_DAYS:
        raise OptionError(names[1], f"the window may cover at most {MAX_WINDOW_DAYS} days")


def parse_typed(typed: Mapping[str, str]) -> dict[str, object]:
    """Typed values (command line, console form) by option name → checked values.

    Raises OptionError for the first bad one, or for a window the dates do not make.
    """
    values: dict[str, object] = {}
    for name, text in typed.items():
        values[name] = TYPED_OPTIONS[name].parse(text)
    first, last = values.get(START_DATE.name), values.get(END_DATE.name)
    if isinstance(first, date) and isinstance(last, date):
        check_window(first, last, names=(START_DATE.name, END_DATE.name))
    return values
