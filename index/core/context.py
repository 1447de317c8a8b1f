"""The search context: everything outside the query text that changes what a query means.

Confluence takes some of this as ``cqlcontext`` (space, content, content statuses) and
the rest from the session (clock, time zone). Here it is one immutable value handed to
every evaluator, so that two evaluators given the same context must agree, and so that
tests never depend on the wall clock: the default ``now`` is a fixed instant, and only
the CLI (or another front end) injects the real one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

#: The fixed default clock (a Sunday): deterministic unless a front end injects the time.
DEFAULT_NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)

#: Content statuses a context may ask for (the ``status`` values of content.jsonl).
CONTENT_STATUSES = frozenset({"current", "draft", "archived", "trashed"})


def _alias(*names: str) -> AliasChoices:
    """Accept our snake_case names and Confluence's ``cqlcontext`` camelCase spellings, so
    a context copied from a Confluence request works unchanged."""
    return AliasChoices(*names)


class SearchContext(BaseModel):
    """Clock, time zone and ``cqlcontext`` of one search."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid", populate_by_name=True)

    #: The wall clock by default (a library user's "created > now('-1d')" means now);
    #: tests and benchmarks pin it by passing ``now=DEFAULT_NOW`` or another instant.
    now: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    tz: str = Field("UTC", validation_alias=_alias("tz", "timezone", "timeZone"))
    space_key: str | None = Field(None, validation_alias=_alias("space_key", "spaceKey"))
    content_id: str | None = Field(None, validation_alias=_alias("content_id", "contentId"))
    content_statuses: tuple[str, ...] = Field(
        ("current",), validation_alias=_alias("content_statuses", "contentStatuses")
    )
    include_archived_spaces: bool = Field(
        False, validation_alias=_alias("include_archived_spaces", "includeArchivedSpaces")
    )
    #: Confluence's ``excludeCurrentSpaces``: only content (and spaces) of archived spaces.
    #: It implies ``include_archived_spaces``.
    exclude_current_spaces: bool = Field(
        False, validation_alias=_alias("exclude_current_spaces", "excludeCurrentSpaces")
    )
    #: First day of the week for ``startOfWeek``/``endOfWeek``: 0 = Monday ... 6 = Sunday.
    week_start: int = Field(0, ge=0, le=6, validation_alias=_alias("week_start", "weekStart"))

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, tz: str) -> str:
        # Validate here, not at first use: a typo in a zone name must fail when the
        # context is made, not silently shift every date literal in some later search.
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone: {tz!r}") from None
        return tz

    @field_validator("content_statuses")
    @classmethod
    def _known_statuses(cls, statuses: tuple[str, ...]) -> tuple[str, ...]:
        # An unknown status would silently match nothing; a typo should say so instead.
        unknown = [s for s in statuses if s not in CONTENT_STATUSES]
        if not statuses:
            raise ValueError("content_statuses must name at least one status")
        if unknown:
            raise ValueError(
                f"unknown content status {unknown[0]!r}; expected some of "
                f"{', '.join(sorted(CONTENT_STATUSES))}"
            )
        return tuple(dict.fromkeys(statuses))

    @property
    def zone(self) -> ZoneInfo:
        """The context's time zone (ZoneInfo caches instances, so this is cheap)."""
        return ZoneInfo(self.tz)
