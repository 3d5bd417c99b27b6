"""Plain CRM records the rules read: what a Bitrix24 record means, not how it was spelled.

:mod:`classifier.crm.bitrix` builds them from REST JSON; the rules never see raw JSON.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

DEAL, LEAD = 2, 1  # OWNER_TYPE_ID of a deal and of a lead (BITRIX24.md 1.5)


class Judgement(Protocol):
    """What the rules need from a verdict on a comment (classifier.verdict.Verdict fits)."""

    expanded: bool
    category: str


Judge = Callable[[list[str]], Sequence[Judgement]]


@dataclass(frozen=True)
class Violation:
    code: str
    message: str

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class ProductRow:
    name: str
    price: float | None
    quantity: float | None


@dataclass(frozen=True)
class Deal:
    id: str
    title: str
    stage_id: str
    stage_semantic: str  # "P", "S", "F", or "" when the portal did not send it
    product_groups: tuple[str, ...]
    contact_ids: tuple[str, ...]
    lead_id: str | None
    opportunity: float | None
    currency: str
    assigned_by_id: str | None
    created: datetime | None
    comments: str  # the deal's own COMMENTS field, markup stripped
    product_rows: tuple[ProductRow, ...] | None = None  # None: not fetched, so not checked


@dataclass(frozen=True)
class Activity:
    id: str
    kind: str  # call, email, chat, meeting, todo, other
    direction: str  # "in", "out", or "" when undefined
    start: datetime | None
    end: datetime | None
    description: str
    missed: bool  # SETTINGS.MISSED_CALL or RESULT_STREAM 4
    session_id: str | None  # ASSOCIATED_ENTITY_ID: the open-line session of a chat
    origin_id: str
    responsible_id: str | None
    owners: tuple[tuple[int, str], ...]  # (OWNER_TYPE_ID, OWNER_ID) and every BINDINGS entry

    @property
    def duration(self) -> int | None:
        if self.start is None or self.end is None:
            return None
        return max(0, round((self.end - self.start).total_seconds()))

    def belongs_to(self, owner_type: int, owner_id: str) -> bool:
        return (owner_type, owner_id) in self.owners


@dataclass(frozen=True)
class Comment:
    id: str
    entity_type: str  # "deal", "lead", "contact", ...
    entity_id: str | None
    created: datetime | None
    author_id: str | None
    text: str


@dataclass(frozen=True)
class CallStat:
    call_id: str
    activity_id: str | None
    failed_code: str  # "200" when the call connected
    duration: int | None


@dataclass(frozen=True)
class ChatMessage:
    id: str
    at: datetime | None
    from_client: bool


@dataclass(frozen=True)
class ChatSession:
    session_id: str
    messages: tuple[ChatMessage, ...]

    @property
    def client_wrote(self) -> bool:
        return any(m.from_client for m in self.messages)


@dataclass(frozen=True)
class History:
    """Everything recorded around one deal or lead."""

    activities: tuple[Activity, ...] = ()
    comments: tuple[Comment, ...] = ()
    call_stats: tuple[CallStat, ...] = ()
    chats: tuple[ChatSession, ...] = ()


@dataclass(frozen=True)
class Multifield:
    value_type: str  # MOBILE, WORK, HOME, ...
    value: str


@dataclass(frozen=True)
class Contact:
    id: str
    last_name: str
    name: str
    second_name: str
    birthdate: date | None
    phones: tuple[Multifield, ...]
    emails: tuple[Multifield, ...]
    assigned_by_id: str | None

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.name, self.second_name) if p)


@dataclass(frozen=True)
class Lead:
    id: str
    title: str
    status_id: str
    status_semantic: str  # "P", "S", "F" or ""
    assigned_by_id: str | None
    created: datetime | None
    closed: datetime | None  # DATE_CLOSED: when it was converted or rejected
