"""The search context: the clock, time zone and space a query is evaluated against.

Nothing in the engine reads the wall clock; the CLI and REPL inject the real time, tests
inject a fixed one, so date functions are deterministic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CONTENT_STATUSES = ("current", "draft", "archived", "trashed")


class SearchContext(BaseModel):
    """What Confluence calls ``cqlcontext`` plus the clock and zone we inject."""

    model_config = ConfigDict(frozen=True)

    now: datetime = DEFAULT_NOW
    tz: str = "UTC"
    space_key: str | None = None
    content_id: str | None = None
    content_statuses: tuple[str, ...] = ("current",)
    include_archived_spaces: bool = False
    week_start: int = Field(default=0, ge=0, le=6)  # 0 = Monday

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("now must carry a time zone offset")
        return value

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("content_statuses")
    @classmethod
    def _statuses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in value if s not in CONTENT_STATUSES]
        if bad or not value:
            raise ValueError(f"content statuses must be among {CONTENT_STATUSES}, got {value}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)
