"""What the rules need about one deal, lead or contact, read from the portal in as few calls as possible.

A deal costs one ``batch`` (the deal, its contacts, product rows, activities and timeline comments),
plus one ``voximplant.statistic.get`` when it has calls and one batch of open-line histories when a
manager started a chat. The results are raw REST JSON: :mod:`classifier.crm.bitrix` reads them.
"""

from dataclasses import dataclass, field

from ..crm.bitrix import BitrixFormatError, to_rows
from .gateway import BATCH_MAX, BitrixError, Gateway

DEAL, LEAD = 2, 1
ACTIVITY_SELECT = ["ID", "OWNER_TYPE_ID", "OWNER_ID", "BINDINGS", "TYPE_ID", "PROVIDER_ID", "PROVIDER_TYPE_ID",
                   "DIRECTION", "START_TIME", "END_TIME", "CREATED", "LAST_UPDATED", "DESCRIPTION",
                   "DESCRIPTION_TYPE", "SETTINGS", "RESULT_STREAM", "ASSOCIATED_ENTITY_ID", "ORIGIN_ID",
                   "RESPONSIBLE_ID", "AUTHOR_ID", "SUBJECT", "COMPLETED"]
COMMENT_SELECT = ["ID", "CREATED", "ENTITY_ID", "ENTITY_TYPE", "AUTHOR_ID", "COMMENT"]


@dataclass
class Bundle:
    """One deal or lead and what surrounds it; ``record`` None when the portal no longer has it."""

    record: dict | None
    contacts: list = field(default_factory=list)
    product_rows: list | None = None
    activities: list = field(default_factory=list)
    comments: list = field(default_factory=list)
    call_stats: list = field(default_factory=list)
    chat_history: dict = field(default_factory=dict)


def _ok(value):
    """A batch command's result, or its error raised."""
    if isinstance(value, BitrixError):
        raise value
    return value


def _rows(value) -> list:
    """The adapter's reading of a list result: a list, a map of ID → record, or PHP's empty []/{}."""
    try:
        return to_rows(value)
    except ValueError as exc:
        raise BitrixFormatError("result", str(exc)) from None


def _more(gateway: Gateway, method: str, params: dict, first: list, id_field: str = "ID") -> list:
    """A batch command returns one page of 50; read the rest by ID window when it was full."""
    if len(first) < BATCH_MAX:
        return first
    return list(gateway.list_all(method, params, id_field))


def read_owner(gateway: Gateway, owner_type: int, owner_id: str, own_user: str) -> Bundle:
    """A deal (``owner_type`` 2) or a lead (1) with its history; our own to-dos and comments left out."""
    kind = "deal" if owner_type == DEAL else "lead"
    activity_params = {"filter": {"OWNER_TYPE_ID": owner_type, "OWNER_ID": owner_id}, "select": ACTIVITY_SELECT,
                       "order": {"ID": "ASC"}}
    comment_params = {"filter": {"ENTITY_TYPE": kind, "ENTITY_ID": owner_id}, "select": COMMENT_SELECT,
                      "order": {"ID": "ASC"}}
    commands = {"record": (f"crm.{kind}.get", {"id": owner_id}),
                "activities": ("crm.activity.list", activity_params),
                "comments": ("crm.timeline.comment.list", comment_params)}
    if owner_type == DEAL:
        commands["contacts"] = ("crm.deal.contact.items.get", {"id": owner_id})
        commands["rows"] = ("crm.deal.productrows.get", {"id": owner_id})
    # the calls bound to this deal or lead, usually all of them; the rest are asked for by activity below
    commands["calls"] = ("voximplant.statistic.get", {"FILTER": {"CRM_ENTITY_TYPE": kind.upper(),
                                                                 "CRM_ENTITY_ID": owner_id}})
    got = gateway.batch(commands)
    record = got["record"]
    if isinstance(record, BitrixError):
        if record.not_found:
            return Bundle(record=None)
        raise record
    activities = _more(gateway, "crm.activity.list", activity_params, _rows(_ok(got["activities"])))
    activities = [a for a in activities if not _ours(a, own_user)]
    comments = _more(gateway, "crm.timeline.comment.list", comment_params, _rows(_ok(got["comments"])))
    comments = [c for c in comments if str(c.get("AUTHOR_ID") or "") != own_user]
    bundle = Bundle(record=record, activities=activities, comments=comments)
    if owner_type == DEAL:
        bundle.contacts = _rows(_ok(got["contacts"]))
        bundle.product_rows = _rows(_ok(got["rows"]))
    known = [] if isinstance(got["calls"], BitrixError) else _rows(got["calls"])
    bundle.call_stats = known + call_stats(gateway, activities, {str(r.get("CRM_ACTIVITY_ID")) for r in known})
    bundle.chat_history = chat_histories(gateway, activities)
    return bundle


def _ours(activity: dict, own_user: str) -> bool:
    """A to-do the integration created: not an interaction, and judging it again would loop."""
    return str(activity.get("AUTHOR_ID") or "") == own_user and str(activity.get("PROVIDER_ID") or "") == "CRM_TODO"


def call_stats(gateway: Gateway, activities: list[dict], known: set[str] = frozenset()) -> list:
    """Telephony statistics of the calls among ``activities`` not in ``known``: whether each connected,
    and for how long. No telephony scope: the activity's own duration and MISSED_CALL flag decide."""
    calls = [str(a.get("ID")) for a in activities if (str(a.get("PROVIDER_ID") or "").upper() == "VOXIMPLANT_CALL"
             or str(a.get("TYPE_ID") or "") == "2") and str(a.get("ID")) not in known]
    if not calls:
        return []
    try:
        return _rows(gateway.result("voximplant.statistic.get", {"FILTER": {"CRM_ACTIVITY_ID": calls}}))
    except BitrixError as exc:
        if exc.status in (401, 403) or exc.code in ("ACCESS_DENIED", "insufficient_scope", "ERROR_METHOD_NOT_FOUND"):
            return []
        raise


def chat_histories(gateway: Gateway, activities: list[dict]) -> dict:
    """Open-line histories of chats a manager started: whether the client wrote back."""
    sessions = {str(a.get("ASSOCIATED_ENTITY_ID")) for a in activities
                if str(a.get("PROVIDER_ID") or "").upper() == "IMOPENLINES_SESSION"
                and str(a.get("DIRECTION") or "") == "2" and a.get("ASSOCIATED_ENTITY_ID")}
    if not sessions:
        return {}
    got = gateway.batch({s: ("imopenlines.session.history.get", {"SESSION_ID": s}) for s in sorted(sessions)})
    return {s: v for s, v in got.items() if not isinstance(v, BitrixError) and v}


def read_one(gateway: Gateway, method: str, entity_id: str) -> dict | None:
    """``crm.*.get``: the record, or None when the portal says it does not exist."""
    try:
        return gateway.result(method, {"id": entity_id})
    except BitrixError as exc:
        if exc.not_found:
            return None
        raise
