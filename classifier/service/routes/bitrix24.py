"""Bitrix24's event calls, and what the integration has seen: a thin shell over classifier.bitrix24.

The event route answers at once and only records the object in the inbox (Bitrix24 never retries and
demotes slow handlers); ``crmqc bitrix24 worker`` does the work. It is verified by the application
token, not the API key: Bitrix24 cannot send headers of ours.
"""

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from ...bitrix24.events import EventError, parse_body, parse_event, verify
from ...bitrix24.settings import Bitrix24Settings
from ...bitrix24.store import Store
from ...bitrix24.wire import MAX_DEPTH
from ..errors import ApiError, errors

log = logging.getLogger("crmqc.bitrix24")
EVENTS_PATH = "/v1/bitrix24/events"


async def _integration(request: Request) -> tuple[Bitrix24Settings, Store]:
    settings: Bitrix24Settings = request.app.state.b24
    store = request.app.state.b24_store
    if not settings.configured:
        raise ApiError(503, "the Bitrix24 integration is not configured: set CRMQC_B24_WEBHOOK_URL, "
                            "CRMQC_B24_APPLICATION_TOKEN and CRMQC_B24_MEMBER_ID")
    if store is None:
        raise ApiError(503, "the Bitrix24 integration is off (CRMQC_B24_MODE=off)")
    return settings, store


Integration = Annotated[tuple[Bitrix24Settings, Store], Depends(_integration)]
router = APIRouter(prefix="/v1/bitrix24", tags=["bitrix24"],
                   responses=errors(413, 503, s503="the integration is not configured, or is off"))
EVENT_BODY = {"requestBody": {"required": True, "content": {
    # bracketed keys (auth[application_token], data[FIELDS][ID]) as Bitrix24 sends them, or the same as JSON
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": True, "propertyNames": {
        "pattern": rf"^[^\[]+(\[[^\]]*\]){{0,{MAX_DEPTH - 1}}}$"}}},
    "application/json": {"schema": {"type": "object", "additionalProperties": True}}}}}


def _refused(request: Request, exc: EventError, payload: dict | None) -> ApiError:
    """The error to answer; a refused sender is logged with its member_id, never its token."""
    if exc.status == 401:
        auth = payload.get("auth") if payload else None
        member = auth.get("member_id") if isinstance(auth, dict) else None
        log.warning("refused an event call from %s: %s (member_id %r)",
                    request.client.host if request.client else "?", exc, str(member)[:64])
    return ApiError(exc.status, str(exc), exc.field or None)


@router.post("/events", openapi_extra=EVENT_BODY, responses=errors(
    400, 401, 415, 422, s400="a body that is not UTF-8, valid JSON or a well-formed form",
    s401="not the configured portal's event: auth[application_token], member_id or domain differ",
    s415="the body is neither application/x-www-form-urlencoded nor application/json",
    s422="not an event this service handles, or no entity ID: `errors` names the field"))
async def events(request: Request, integration: Integration):
    """An outgoing-webhook or application event call, form-encoded as Bitrix24 sends it (or JSON)."""
    settings, store = integration
    try:
        payload = parse_body(await request.body(), request.headers.get("content-type", ""))
    except EventError as exc:
        raise _refused(request, exc, None) from None
    try:
        verify(payload, settings)
        event = parse_event(payload)
    except EventError as exc:
        raise _refused(request, exc, payload) from None
    await run_in_threadpool(store.enqueue, [(event.entity_type, event.entity_id, event.name)])
    return {"status": "queued", "event": event.name, "entity_type": event.entity_type, "entity_id": event.entity_id}


@router.get("/status", responses=errors(401))
async def status(integration: Integration):
    """The inbox, the sweep watermarks and the mode: is the integration keeping up?"""
    settings, store = integration
    counts = await run_in_threadpool(store.inbox_counts)
    return {"mode": settings.mode, "portal": settings.domain, "inbox": counts,
            "errors": await run_in_threadpool(store.inbox_errors),
            "watermarks": await run_in_threadpool(store.watermarks)}


@router.get("/deals/{deal_id}", responses=errors(401, 404, 422, s404="the deal has not been judged yet"))
async def deal(integration: Integration, deal_id: Annotated[str, Path(pattern=r"^[1-9][0-9]{0,19}$")],
               history: Annotated[int, Query(ge=0, le=500)] = 20):
    """The current decision on a deal, its recent history, and what was (or in shadow would be) written."""
    settings, store = integration
    current = await run_in_threadpool(store.current, "deal", deal_id)
    if current is None:
        raise ApiError(404, f"deal {deal_id} has not been judged yet", "deal_id")
    past = await run_in_threadpool(store.history, "deal", deal_id, history)
    writes = await run_in_threadpool(store.writes, None, settings.mode, deal_id)
    return {"deal_id": deal_id, "mode": settings.mode, "decision": current,
            "history": [{"decided_at": h["decided_at"], "model_version": h["model_version"], "result": h["result"]}
                        for h in past],
            "writes": [{"target": w["target"], "key": w["key"], "state": w["state"], "at": w["at"],
                        "portal_id": w["portal_id"]} for w in writes]}
