"""Bitrix24 REST JSON → plain records, accepting every shape a real portal sends.

Numbers and IDs arrive as strings or numbers, flags as ``Y``/``N``, empty values as ``""``,
``null``, ``[]`` or ``{}``, datetimes with the portal's offset, ``BIRTHDATE`` as a midnight
datetime (BITRIX24.md 1, 1.1). A value that cannot mean what its field means raises
:class:`BitrixFormatError` naming the field, e.g. ``activities.3.START_TIME``.
"""

import html
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime

from .records import (
    Activity,
    CallStat,
    ChatMessage,
    ChatSession,
    Comment,
    Contact,
    Deal,
    History,
    Lead,
    Multifield,
    ProductRow,
)
from .settings import CrmSettings

YES = frozenset({"y", "yes", "true", "1"})
NO = frozenset({"n", "no", "false", "0", ""})
DIRECTIONS = {1: "in", 2: "out"}
YEARS = (1900, 2999)  # leaves room for calendar arithmetic: «9999-12-31» + 2 months overflows
MISSED_STREAM = 4  # RESULT_STREAM of a call that did not connect (BITRIX24.md 3.2)
_BB_TAG = re.compile(r"\[/?[A-Za-z*]+(?:=[^\]]*)?\]")
_HTML_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")
_RU_DATE = re.compile(r"(\d{2})\.(\d{2})\.(\d{4})")


class BitrixFormatError(ValueError):
    """A Bitrix24 value that cannot mean what its field means."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}" if field else problem)

    def within(self, prefix: str) -> "BitrixFormatError":
        return BitrixFormatError(f"{prefix}.{self.field}" if self.field else prefix, self.problem)


# --- scalar values ----------------------------------------------------------------------------------

def _is_empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def to_text(value) -> str:
    if _is_empty(value) or value is False:
        return ""
    if isinstance(value, (str, int, float)):
        return str(value).strip()
    raise ValueError(f"expected text, got {type(value).__name__}")


def to_id(value) -> str | None:
    """``"410"``, ``410`` and ``410.0`` are one ID; ``""``, ``null`` and ``0`` are none."""
    if _is_empty(value) or value is False:
        return None
    if isinstance(value, (bool, dict, list)):
        raise ValueError(f"expected an ID, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"expected an ID, got {value!r}")
        value = int(value)
    text = str(value).strip()
    return None if text in ("", "0") else text


def to_number(value) -> float | None:
    """``"1000000.00"``, ``1000000``, ``"1 000 000,00"`` → 1000000.0; empty → None."""
    if _is_empty(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(value) if not isinstance(value, str) else float(
            value.replace("\u00a0", "").replace(" ", "").replace(",", "."))
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def to_int(value) -> int | None:
    number = to_number(value)
    if number is None:
        return None
    if not number.is_integer():
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(number)


def to_flag(value) -> bool:
    """``Y``/``N``, ``true``/``false``, ``1``/``0``; empty is N."""
    if value is None or value == [] or value == {}:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text in YES:
        return True
    if text in NO:
        return False
    raise ValueError(f"expected Y or N, got {value!r}")


def to_moment(value, tz) -> datetime | None:
    """ISO 8601 with the portal's offset; without one, the portal's offset is assumed."""
    if _is_empty(value):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = _from_unix(value, tz)  # event `ts`: Unix seconds
    elif isinstance(value, str):
        moment = _from_iso(value, tz)
    else:
        raise ValueError(f"expected an ISO datetime, got {value!r}")
    if not YEARS[0] <= moment.year <= YEARS[1]:
        raise ValueError(f"a datetime in {moment.year} is out of range")
    return moment


def _from_unix(value: float, tz) -> datetime:
    try:
        return datetime.fromtimestamp(value, UTC).astimezone(tz)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"expected Unix seconds or an ISO datetime, got {value!r}") from None


def _from_iso(value: str, tz) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"expected an ISO datetime like 2024-08-30T14:29:00+03:00, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def to_day(value) -> date | None:
    """``"2001-11-11T02:00:00+02:00"`` → 2001-11-11: the first 10 characters are the date."""
    if _is_empty(value):
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a date, got {value!r}")
    text = value.strip()
    ru = _RU_DATE.fullmatch(text[:10])
    try:
        return date(int(ru[3]), int(ru[2]), int(ru[1])) if ru else date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"expected a date like 1990-05-17, got {value!r}") from None


def to_mapping(value) -> dict:
    """An object; PHP writes an empty one as ``[]`` and one with keys 0..n-1 as a list."""
    if _is_empty(value):
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    raise ValueError(f"expected an object, got {type(value).__name__}")


def unwrap(value):
    """The ``result`` of a REST envelope ``{"result": …, "time": …}``; anything else as it is."""
    if isinstance(value, dict) and "result" in value and "ID" not in value:
        return value["result"]
    return value


def to_rows(value) -> list:
    """A list of records; ``null``, ``{}`` and a map of ID → record are accepted too."""
    value = unwrap(value)
    if _is_empty(value):
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()) and "ID" not in value:
        return list(value.values())
    raise ValueError(f"expected a list of records, got {type(value).__name__}")


def plain_text(value: str, markup: str = "bb") -> str:
    """Comment text without BB-codes (``[B]…[/B]``, ``[USER=5]…[/USER]``) or, for HTML, tags."""
    text = _BB_TAG.sub(" ", value)
    if markup == "html":
        text = html.unescape(_HTML_TAG.sub(" ", text))
    return _SPACES.sub(" ", text).strip()


# --- one record --------------------------------------------------------------------------------------

class Fields:
    """One raw record; every read names the field when the value is malformed."""

    def __init__(self, raw, settings: CrmSettings):
        raw = unwrap(raw)
        if not isinstance(raw, dict):
            raise BitrixFormatError("", f"expected an object, got {type(raw).__name__}")
        self.raw, self.settings = raw, settings

    def read(self, key: str, parse: Callable, *args):
        try:
            return parse(self.raw.get(key), *args)
        except ValueError as exc:
            raise BitrixFormatError(key, str(exc)) from None

    def text(self, key: str) -> str:
        return self.read(key, to_text)

    def ident(self, key: str) -> str | None:
        return self.read(key, to_id)

    def required_id(self, key: str = "ID") -> str:
        value = self.ident(key)
        if value is None:
            raise BitrixFormatError(key, "missing")
        return value

    def moment(self, key: str) -> datetime | None:
        return self.read(key, to_moment, self.settings.portal_tz)

    def rows(self, key: str) -> list:
        return self.read(key, to_rows)

    def mapping(self, key: str) -> dict:
        return self.read(key, to_mapping)


def parse_rows(value, parse_one: Callable, name: str) -> tuple:
    """Each record of a list through ``parse_one``; an error names ``name.<index>.<field>``."""
    try:
        rows = to_rows(value)
    except ValueError as exc:
        raise BitrixFormatError(name, str(exc)) from None
    parsed = []
    for i, row in enumerate(rows):
        try:
            parsed.append(parse_one(row))
        except BitrixFormatError as exc:
            raise exc.within(f"{name}.{i}") from None
    return tuple(parsed)


# --- deals ---------------------------------------------------------------------------------------------

def product_groups(value) -> tuple[str, ...]:
    """An enumeration UF value: one option ID, a list of them, or empty (``false`` too)."""
    values = value if isinstance(value, list) else [value]
    if any(isinstance(v, (dict, list)) for v in values):
        raise ValueError(f"expected an option ID or a list of them, got {value!r}")
    return tuple(g for g in (to_id(v) for v in values) if g)


def product_row_from_bitrix(raw, settings: CrmSettings) -> ProductRow:
    f = Fields(raw, settings)
    return ProductRow(name=f.text("PRODUCT_NAME"), price=f.read("PRICE", to_number),
                      quantity=f.read("QUANTITY", to_number))


def _contact_item(raw) -> str | None:
    """A row of crm.deal.contact.items.get (``{"CONTACT_ID": 55, …}``) or a bare contact ID."""
    if isinstance(raw, dict):
        try:
            return to_id(raw.get("CONTACT_ID"))
        except ValueError as exc:
            raise BitrixFormatError("CONTACT_ID", str(exc)) from None
    try:
        return to_id(raw)
    except ValueError as exc:
        raise BitrixFormatError("", str(exc)) from None


def deal_contacts(value, name: str = "contacts") -> tuple[str, ...]:
    """The contact IDs in a ``crm.deal.contact.items.get`` result."""
    return tuple(i for i in parse_rows(value, _contact_item, name) if i)


def deal_product_rows(value, settings: CrmSettings, name: str = "product_rows") -> tuple[ProductRow, ...]:
    """A ``crm.deal.productrows.get`` result."""
    return parse_rows(value, lambda r: product_row_from_bitrix(r, settings), name)


def deal_from_bitrix(raw, settings: CrmSettings, contacts: tuple[str, ...] = (),
                     product_rows: tuple[ProductRow, ...] | None = None) -> Deal:
    """A ``crm.deal.get``/``crm.deal.list`` row. ``contacts`` (from :func:`deal_contacts`) join
    CONTACT_ID, which list rows carry for the primary contact only."""
    f = Fields(raw, settings)
    own = (f.ident("CONTACT_ID"), *deal_contacts(f.raw.get("CONTACT_IDS"), "CONTACT_IDS"))
    return Deal(
        id=f.required_id(),
        title=f.text("TITLE"),
        stage_id=f.text("STAGE_ID"),
        stage_semantic=f.text("STAGE_SEMANTIC_ID").upper(),
        product_groups=f.read(settings.product_group_field, product_groups),
        contact_ids=tuple(dict.fromkeys(i for i in (*own, *contacts) if i)),
        lead_id=f.ident("LEAD_ID"),
        opportunity=f.read("OPPORTUNITY", to_number),
        currency=f.text("CURRENCY_ID"),
        assigned_by_id=f.ident("ASSIGNED_BY_ID"),
        created=f.moment("DATE_CREATE"),
        comments=plain_text(f.text("COMMENTS")),
        product_rows=product_rows,
    )


# --- activities, comments, calls, chats ------------------------------------------------------------

def activity_kind(f: Fields) -> str:
    provider = f.text("PROVIDER_ID").upper()
    if provider in f.settings.provider_kinds:
        return f.settings.provider_kinds[provider]
    return f.settings.type_kinds.get(f.read("TYPE_ID", to_int), "other")


def _owners(f: Fields) -> tuple[tuple[int, str], ...]:
    owners = [(f.read("OWNER_TYPE_ID", to_int), f.ident("OWNER_ID"))]
    for i, binding in enumerate(f.rows("BINDINGS")):
        try:
            b = Fields(binding, f.settings)
            owners.append((b.read("OWNER_TYPE_ID", to_int), b.ident("OWNER_ID")))
        except BitrixFormatError as exc:
            raise exc.within(f"BINDINGS.{i}") from None
    return tuple(dict.fromkeys((t, i) for t, i in owners if t is not None and i))


def _missed(f: Fields) -> bool:
    try:
        missed = to_flag(f.mapping("SETTINGS").get("MISSED_CALL"))
    except ValueError as exc:
        raise BitrixFormatError("SETTINGS.MISSED_CALL", str(exc)) from None
    return missed or f.read("RESULT_STREAM", to_int) == MISSED_STREAM


def activity_from_bitrix(raw, settings: CrmSettings) -> Activity:
    """A ``crm.activity.list`` row."""
    f = Fields(raw, settings)
    start = f.moment("START_TIME") or f.moment("CREATED")
    markup = "html" if f.read("DESCRIPTION_TYPE", to_int) == 3 else "bb"
    return Activity(
        id=f.required_id(),
        kind=activity_kind(f),
        direction=DIRECTIONS.get(f.read("DIRECTION", to_int), ""),
        start=start,
        end=f.moment("END_TIME") or start,
        description=plain_text(f.text("DESCRIPTION"), markup),
        missed=_missed(f),
        session_id=f.ident("ASSOCIATED_ENTITY_ID"),
        origin_id=f.text("ORIGIN_ID"),
        responsible_id=f.ident("RESPONSIBLE_ID"),
        owners=_owners(f),
    )


def comment_from_bitrix(raw, settings: CrmSettings) -> Comment:
    """A ``crm.timeline.comment.list`` row."""
    f = Fields(raw, settings)
    return Comment(id=f.required_id(), entity_type=f.text("ENTITY_TYPE").lower(), entity_id=f.ident("ENTITY_ID"),
                   created=f.moment("CREATED"), author_id=f.ident("AUTHOR_ID"), text=plain_text(f.text("COMMENT")))


def call_stat_from_bitrix(raw, settings: CrmSettings) -> CallStat:
    """A ``voximplant.statistic.get`` row (every value a string)."""
    f = Fields(raw, settings)
    return CallStat(call_id=f.text("CALL_ID"), activity_id=f.ident("CRM_ACTIVITY_ID"),
                    failed_code=f.text("CALL_FAILED_CODE"), duration=f.read("CALL_DURATION", to_int))


def _chat_message(raw, users: dict, settings: CrmSettings) -> ChatMessage:
    f = Fields(raw, settings)
    sender = f.ident("senderid")  # "0": a system message
    user = users.get(sender) if sender else None
    try:
        from_client = isinstance(user, dict) and to_flag(user.get("connector")) and not to_flag(user.get("bot"))
    except ValueError as exc:
        raise BitrixFormatError(f"users.{sender}.connector", str(exc)) from None
    return ChatMessage(id=f.text("id"), at=f.moment("date"), from_client=from_client)


def chat_from_bitrix(session_id: str, raw, settings: CrmSettings) -> ChatSession:
    """An ``imopenlines.session.history.get`` result: ``message`` and ``users`` keyed by ID."""
    f = Fields(raw, settings)
    users = {str(v.get("id", k)): v for k, v in f.mapping("users").items() if isinstance(v, dict)}
    messages = parse_rows(list(f.mapping("message").values()),
                          lambda m: _chat_message(m, users, settings), "message")
    return ChatSession(session_id=str(session_id), messages=messages)


def chats_from_bitrix(value, settings: CrmSettings) -> tuple[ChatSession, ...]:
    """``{"<session id>": <history>}``; ``[]`` when empty."""
    try:
        sessions = to_mapping(unwrap(value))
    except ValueError as exc:
        raise BitrixFormatError("chat_history", str(exc)) from None
    chats = []
    for session_id, history in sessions.items():
        try:
            chats.append(chat_from_bitrix(session_id, history, settings))
        except BitrixFormatError as exc:
            raise exc.within(f"chat_history.{session_id}") from None
    return tuple(chats)


def history_from_bitrix(settings: CrmSettings, activities=None, comments=None, call_stats=None,
                        chat_history=None) -> History:
    return History(
        activities=parse_rows(activities, lambda r: activity_from_bitrix(r, settings), "activities"),
        comments=parse_rows(comments, lambda r: comment_from_bitrix(r, settings), "comments"),
        call_stats=parse_rows(call_stats, lambda r: call_stat_from_bitrix(r, settings), "call_stats"),
        chats=chats_from_bitrix(chat_history, settings),
    )


# --- contacts and leads ----------------------------------------------------------------------------------

def _multifield(raw, settings: CrmSettings) -> Multifield:
    f = Fields(raw, settings)
    return Multifield(value_type=f.text("VALUE_TYPE").upper(), value=f.text("VALUE"))


def multifields(f: Fields, key: str) -> tuple[Multifield, ...]:
    found = parse_rows(f.raw.get(key), lambda r: _multifield(r, f.settings), key)
    return tuple(m for m in found if m.value)


def contact_from_bitrix(raw, settings: CrmSettings) -> Contact:
    """A ``crm.contact.get``/``crm.contact.list`` row (PHONE and EMAIL selected)."""
    f = Fields(raw, settings)
    return Contact(
        id=f.required_id(),
        last_name=f.text("LAST_NAME"),
        name=f.text("NAME"),
        second_name=f.text("SECOND_NAME"),
        birthdate=f.read("BIRTHDATE", to_day),
        phones=multifields(f, "PHONE"),
        emails=multifields(f, "EMAIL"),
        assigned_by_id=f.ident("ASSIGNED_BY_ID"),
    )


def lead_from_bitrix(raw, settings: CrmSettings) -> Lead:
    """A ``crm.lead.get``/``crm.lead.list`` row."""
    f = Fields(raw, settings)
    return Lead(id=f.required_id(), title=f.text("TITLE"), status_id=f.text("STATUS_ID"),
                status_semantic=f.text("STATUS_SEMANTIC_ID").upper(), assigned_by_id=f.ident("ASSIGNED_BY_ID"),
                created=f.moment("DATE_CREATE"), closed=f.moment("DATE_CLOSED"))


def records(value, parse_one: Callable, settings: CrmSettings, name: str) -> tuple:
    """A list of raw records through ``parse_one(raw, settings)``."""
    return parse_rows(value, lambda r: parse_one(r, settings), name)
