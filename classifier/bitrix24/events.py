"""Bitrix24 event calls → what to look at again: (entity type, ID), after verifying the sender.

An event carries only IDs (BITRIX24_LIVE.md 1.2–1.3), so nothing here trusts its content beyond
naming the object: the worker re-reads it. The two documented shapes of a timeline-comment event,
``data[ID]`` and ``data[FIELDS][ID]``, are both accepted.
"""

import json
import secrets
from dataclasses import dataclass

from .settings import Bitrix24Settings
from .wire import WireError, parse_nested

ENTITY_BY_PREFIX = (
    ("ONCRMTIMELINECOMMENT", "comment"),
    ("ONCRMACTIVITY", "activity"),
    ("ONCRMDEAL", "deal"),
    ("ONCRMLEAD", "lead"),
    ("ONCRMCONTACT", "contact"),
)
CALL_END = "ONVOXIMPLANTCALLEND"
KNOWN = frozenset({
    *(f"ONCRMTIMELINECOMMENT{a}" for a in ("ADD", "UPDATE", "DELETE")),
    *(f"ONCRMACTIVITY{a}" for a in ("ADD", "UPDATE", "DELETE")),
    *(f"ONCRMDEAL{a}" for a in ("ADD", "UPDATE", "DELETE", "MOVETOCATEGORY")),
    "ONCRMLEADADD", "ONCRMLEADUPDATE", "ONCRMLEADDELETE",
    "ONCRMCONTACTADD", "ONCRMCONTACTUPDATE", "ONCRMCONTACTDELETE",
    CALL_END,
})
MAX_ID = 20


class EventError(ValueError):
    """A call that is not a valid event of the configured portal: ``status`` 400/401/422, ``field`` named."""

    def __init__(self, status: int, message: str, field: str = ""):
        self.status, self.field = status, field
        super().__init__(message)


@dataclass(frozen=True)
class Event:
    name: str
    entity_type: str  # comment, activity, deal, lead, contact, call
    entity_id: str
    ts: str


def parse_body(body: bytes, content_type: str) -> dict:
    """A form-encoded body (what Bitrix24 sends) or JSON (what a test or a relay may send)."""
    kind = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise EventError(400, "the body is not UTF-8 text") from None
    if kind == "application/json":
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise EventError(400, f"the body is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise EventError(422, "expected a JSON object", "body")
        return value
    if kind in ("application/x-www-form-urlencoded", ""):
        try:
            return parse_nested(text)
        except WireError as exc:
            raise EventError(400, f"malformed form body: {exc}") from None
    raise EventError(415, f"expected application/x-www-form-urlencoded or application/json, got {kind!r}")


def _text(value, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return str(value).strip()
    raise EventError(422, f"{field}: expected text", field)


def verify(payload: dict, settings: Bitrix24Settings) -> None:
    """The application token (constant time), member_id and domain must be the configured portal's."""
    auth = payload.get("auth")
    if not isinstance(auth, dict):
        raise EventError(401, "no auth[application_token]: not a Bitrix24 event call", "auth")
    token = _text(auth.get("application_token"), "auth.application_token")
    given = token.encode("utf-8", "surrogatepass")
    if not secrets.compare_digest(given, settings.application_token.encode()):
        raise EventError(401, "auth[application_token] does not match CRMQC_B24_APPLICATION_TOKEN",
                         "auth.application_token")
    if _text(auth.get("member_id"), "auth.member_id") != settings.member_id:
        raise EventError(401, "auth[member_id] is not the configured portal's (CRMQC_B24_MEMBER_ID)", "auth.member_id")
    domain = _text(auth.get("domain"), "auth.domain").lower()
    if settings.domain and domain and domain != settings.domain.lower():
        raise EventError(401, "auth[domain] is not the configured portal's (CRMQC_B24_DOMAIN)", "auth.domain")


def _entity_id(value, field: str) -> str:
    text = _text(value, field)
    if not text.isdigit() or len(text) > MAX_ID or text.strip("0") == "":
        raise EventError(422, f"{field}: expected a positive integer ID, got {text[:40]!r}", field)
    return text.lstrip("0")


def parse_event(payload: dict) -> Event:
    """Which object the event is about; an event we do not subscribe to is a 422 naming ``event``."""
    name = _text(payload.get("event"), "event").upper()
    if name not in KNOWN:
        raise EventError(422, f"event: {name[:60]!r} is not an event this service handles" if name
                         else "event: missing", "event")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise EventError(422, "data: expected data[FIELDS][ID] or data[ID]", "data")
    ts = _text(payload.get("ts"), "ts")
    if name == CALL_END:
        activity = _text(data.get("CRM_ACTIVITY_ID"), "data.CRM_ACTIVITY_ID")
        if activity and activity != "0":
            return Event(name, "activity", _entity_id(activity, "data.CRM_ACTIVITY_ID"), ts)
        call_id = _text(data.get("CALL_ID"), "data.CALL_ID")
        if not call_id or len(call_id) > 80:
            raise EventError(422, "data.CALL_ID: missing", "data.CALL_ID")
        return Event(name, "call", call_id, ts)
    fields = data.get("FIELDS")
    if isinstance(fields, dict) and fields.get("ID") not in (None, ""):
        raw, field = fields.get("ID"), "data.FIELDS.ID"
    else:
        raw, field = data.get("ID"), "data.ID"
    if raw in (None, ""):
        raise EventError(422, "data: expected data[FIELDS][ID] or data[ID]", "data.FIELDS.ID")
    entity = next(kind for prefix, kind in ENTITY_BY_PREFIX if name.startswith(prefix))
    return Event(name, entity, _entity_id(raw, field), ts)
