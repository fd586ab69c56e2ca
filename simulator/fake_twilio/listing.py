"""Twilio's list pages (GET Messages.json / Calls.json): filters, newest first, paged as the library follows them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from simulator.fake_twilio.config import Resource
from simulator.fake_twilio.errors import TwilioError
from simulator.fake_twilio.records import FakeCall, FakeMessage, parse_time_filter


def list_page(
    path: str,
    query: Mapping[str, str],
    resource: Resource,
    records: Sequence[FakeMessage] | Sequence[FakeCall],
    *,
    visible_before: datetime | None,
) -> dict[str, Any]:
    """The page `query` asks for of `records` created no later than `visible_before`, in Twilio's JSON shape."""
    found = _matching(query, resource, records, visible_before=visible_before)
    # Newest first, as Twilio lists them.
    found.sort(key=lambda r: r.listing_time(), reverse=True)
    try:
        page_size = max(1, min(1000, int(query.get("PageSize", "50"))))
        page = max(0, int(query.get("Page", "0")))
    except ValueError:
        raise TwilioError(400, 20001, "Invalid paging parameters") from None
    chunk = found[page * page_size : (page + 1) * page_size]
    filters = [(k, v) for k, v in query.items() if k not in {"Page", "PageSize", "PageToken"}]

    def page_uri(number: int) -> str:
        return f"{path}?{urlencode([*filters, ('PageSize', str(page_size)), ('Page', str(number))])}"

    has_next = (page + 1) * page_size < len(found)
    return {
        resource: [r.to_json() for r in chunk],
        "end": page * page_size + max(0, len(chunk) - 1),
        "first_page_uri": page_uri(0),
        "next_page_uri": page_uri(page + 1) if has_next else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
        "start": page * page_size,
        "uri": page_uri(page),
    }


def _matching(
    query: Mapping[str, str],
    resource: Resource,
    records: Sequence[FakeMessage] | Sequence[FakeCall],
    *,
    visible_before: datetime | None,
) -> list[Any]:
    found: list[Any] = list(records)
    if visible_before is not None:
        found = [r for r in found if r.date_created <= visible_before]
    for key, attribute in (("To", "to"), ("From", "from_"), ("Status", "status"), ("ParentCallSid", "parent_call_sid")):
        if key in query:
            value = query[key]
            found = [r for r in found if getattr(r, attribute, None) == value]
    time_field = "DateSent" if resource == "messages" else "StartTime"
    for suffix in ("", ">", "<"):
        key = time_field + suffix
        if key not in query:
            continue
        try:
            bound = parse_time_filter(query[key])
        except ValueError:
            raise TwilioError(400, 20001, f"Invalid {key}: {query[key]}") from None
        found = [r for r in found if _time_matches(r.listing_time(), suffix, bound)]
    return found


def _time_matches(moment: datetime, suffix: str, bound: datetime | date) -> bool:
    # `DateSent>` arrives as `DateSent>=` on the wire (key, then "="): Twilio's bounds are inclusive.
    if isinstance(bound, datetime):
        value: datetime | date = moment
        bound = bound.replace(microsecond=0)
    else:
        value = moment.astimezone(UTC).date()
    if suffix == ">":
        return value >= bound
    if suffix == "<":
        return value <= bound
    return value == bound
