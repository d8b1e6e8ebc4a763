"""`GET /api/events`: the polling feed of the outbox, for consumers without webhooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from pims_sync.api.deps import QueryClinicDep, ServicesDep, require
from pims_sync.api.responses import AUTHENTICATED_ERRORS, error_responses
from pims_sync.domain.api_keys import EVENTS_READ, ApiKey
from pims_sync.domain.outbox import MAX_SEQ
from pims_sync.errors import InvalidInputError
from pims_sync.shapes.outbox import EventFeed, FeedEvent

router = APIRouter(prefix="/api", tags=["events"])

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


@router.get(
    "/events",
    summary="The clinic's events after a seq, in seq order",
    response_model=EventFeed,
    responses=error_responses(*AUTHENTICATED_ERRORS, 503),
)
async def event_feed(
    services: ServicesDep,
    _key: Annotated[ApiKey, Depends(require(EVENTS_READ))],
    clinic: QueryClinicDep,
    after_seq: Annotated[
        int,
        Query(
            alias="afterSeq",
            ge=0,
            le=MAX_SEQ,
            description="The last seq already read (0: from the start).",
        ),
    ] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Events per page.")
    ] = DEFAULT_LIMIT,
) -> EventFeed:
    """Up to `limit` events with `seq` > `afterSeq`; `nextSeq` is the next `afterSeq`."""
    # One more than asked tells whether another page waits, without a count.
    found = await services.events.after(clinic_id=clinic.id, after_seq=after_seq, limit=limit + 1)
    page = found[:limit]
    if not page and after_seq > (last := await services.events.last_seq(clinic_id=clinic.id)):
        # A cursor past the end cannot come from this clinic's feed: waiting on it would
        # silently skip the events numbered up to it.
        raise InvalidInputError(
            f"afterSeq {after_seq} is past the clinic's last event ({last}): "
            "pass a seq this feed returned, or 0 to read from the start"
        )
    return EventFeed(
        clinic_id=clinic.id,
        events=[FeedEvent.of(event) for event in page],
        next_seq=page[-1].seq if page else after_seq,
        has_more=len(found) > limit,
    )
