"""Signals of gaming: judge repeats and promises; do not punish, just do not count (BITRIX24_LIVE.md 4.2).

- **Reuse.** A touch comment that is the same or nearly the same as an earlier comment on the same deal,
  or as an earlier comment of the same manager on another deal, does not count as a touch
  (``reused_comment``). Texts are compared as sets of word shingles after normalisation with numbers,
  dates, times, money and contacts masked («созвон 12.03» and «созвон 15.03» are one text), by Jaccard
  similarity; the earliest of similar comments is the original and keeps counting.
- **Self-repetition.** A run of words pasted twice inside one comment is judged once
  (:func:`without_repeats`; the worse of the two verdicts stands): doubling «Оплата поступила 100%» must
  not make it long enough to pass.
- **Promise vs fact.** A counted comment that promises a step on a date («созвон в чт», «наберу 15.03»)
  with no interaction on the deal by that date plus a grace period (:func:`check_promises`).
- **Bursts.** Many comments written long after their interactions, just before an audit
  (:func:`find_bursts`): a pattern per manager, not a violation.

All of it is pure functions over the plain records of :mod:`classifier.crm.records`.
"""

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from statistics import median

from ..text.normalize import mask_entities, normalize
from ..text.tokenize import tokenize
from .records import Activity, Comment, History, Judge, Judgement
from .settings import CrmSettings

INTERACTIONS = frozenset({"call", "email", "chat", "meeting"})  # what a promised step can be kept by


# --- comments as written records ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Written:
    """One text a manager wrote on a deal: a timeline comment (``kind`` comment) or a note on a call or
    meeting (``kind`` note, ``id`` the activity's). ``kind`` and ``id`` name the record: an activity bound
    to two deals is one note, never a repeat of itself."""

    kind: str
    id: str
    deal_id: str
    manager_id: str | None
    created: datetime | None
    text: str

    @property
    def ref(self) -> tuple[str, str]:
        return self.kind, self.id

    def order(self) -> tuple:
        return self.created, self.deal_id, self.kind, self.id


def deal_writings(deal_id: str, history: History, settings: CrmSettings,
                  manager_id: str | None = None) -> list[Written]:
    """Every comment and note of one deal's history; ``manager_id`` stands in for a missing author."""
    found = [Written("comment", c.id, deal_id, c.author_id or manager_id, c.created, c.text)
             for c in history.comments if c.text]
    found += [note_of(a, deal_id, manager_id) for a in history.activities
              if a.description and a.kind in settings.description_is_comment]
    return found


def note_of(activity: Activity, deal_id: str, manager_id: str | None = None) -> Written:
    return Written("note", activity.id, deal_id, activity.responsible_id or manager_id,
                   activity.end or activity.start, activity.description)


def comment_of(comment: Comment, deal_id: str, manager_id: str | None = None) -> Written:
    return Written("comment", comment.id, deal_id, comment.author_id or manager_id, comment.created, comment.text)


# --- fingerprints -------------------------------------------------------------------------------------------

def fingerprint_tokens(text: str) -> tuple[str, ...]:
    """Normalised words with placeholders for numbers, dates, money, contacts: what a copy keeps."""
    return tuple(tokenize(mask_entities(normalize(text))))


def shingles(tokens: Sequence[str], size: int) -> frozenset[str]:
    """Runs of ``size`` words; a text shorter than that is one shingle."""
    if len(tokens) <= size:
        return frozenset({" ".join(tokens)}) if tokens else frozenset()
    return frozenset(" ".join(tokens[i:i + size]) for i in range(len(tokens) - size + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def similarity(a: str, b: str, settings: CrmSettings) -> float:
    """How much of two texts is the same, 0..1, as the reuse check measures it."""
    size = settings.reuse_shingle_words
    return jaccard(shingles(fingerprint_tokens(a), size), shingles(fingerprint_tokens(b), size))


@dataclass(frozen=True)
class Reuse:
    """The earlier text a comment repeats."""

    deal_id: str
    kind: str  # comment or note
    id: str
    created: datetime | None
    similarity: float
    same_deal: bool

    def to_dict(self) -> dict:
        return {"deal_id": self.deal_id, "kind": self.kind, "id": self.id,
                "created": self.created.isoformat() if self.created else None,
                "similarity": round(self.similarity, 3), "same_deal": self.same_deal}

    def message(self) -> str:
        what = "комментарий" if self.kind == "comment" else "заметку к звонку"
        when = f" от {self.created:%d.%m.%Y}" if self.created else ""
        where = "в этой же сделке" if self.same_deal else f"в сделке {self.deal_id}"
        exact = "" if self.similarity >= 0.999 else f" (совпадает на {self.similarity:.0%})"
        return (f"Комментарий повторяет {what} #{self.id}{when} {where}{exact}: повтор не засчитывается как "
                f"касание — опишите именно этот разговор.")


class ReuseIndex:
    """Written texts, indexed to find for a comment the earliest earlier one it repeats.

    Candidates come from a prefix filter (each text indexed by its rarest shingles; two sets with Jaccard
    ≥ t must share one of them), so the search is exact, with no pair compared without cause.
    """

    def __init__(self, written: Iterable[Written], settings: CrmSettings):
        self.settings = settings
        self.size, self.threshold = settings.reuse_shingle_words, settings.reuse_similarity
        self.items: list[Written] = []
        self.sets: list[frozenset[str]] = []
        seen = set()
        for item in written:
            key = (item.ref, item.deal_id)
            shingled = self._shingles(item)
            if key in seen or item.created is None or not shingled:
                continue
            seen.add(key)
            self.items.append(item)
            self.sets.append(shingled)
        self.frequency = Counter(s for group in self.sets for s in group)
        self.postings: dict[str, list[int]] = defaultdict(list)
        for i, group in enumerate(self.sets):
            for s in self._prefix(group):
                self.postings[s].append(i)
        self._cache: dict[tuple, Reuse | None] = {}

    def __len__(self) -> int:
        return len(self.items)

    def _shingles(self, item: Written) -> frozenset[str]:
        tokens = fingerprint_tokens(item.text)
        if len(tokens) < self.settings.reuse_min_words:
            return frozenset()  # «Аванс внесён» on two deals is two facts, not a copy
        return shingles(tokens, self.size)

    def _prefix(self, group: frozenset[str]) -> list[str]:
        ordered = sorted(group, key=lambda s: (self.frequency.get(s, 0), s))
        keep = len(ordered) - math.ceil(self.threshold * len(ordered) - 1e-9) + 1
        return ordered[:max(1, keep)]

    @staticmethod
    def comparable(earlier: Written, later: Written) -> bool:
        """The same deal (anyone's comment), or the same manager on another deal; never the same record."""
        if earlier.ref == later.ref:
            return False
        if earlier.deal_id == later.deal_id:
            return True
        return earlier.manager_id is not None and earlier.manager_id == later.manager_id

    def earlier_match(self, item: Written) -> Reuse | None:
        """The earliest text written before ``item`` that ``item`` repeats, or None."""
        key = (item.ref, item.deal_id, item.created, item.text, item.manager_id)
        if key not in self._cache:
            self._cache[key] = self._match(item)
        return self._cache[key]

    def _match(self, item: Written) -> Reuse | None:
        group = self._shingles(item)
        if not group or item.created is None:
            return None
        best, best_similarity = None, 0.0
        for i in {i for s in self._prefix(group) for i in self.postings.get(s, ())}:
            other = self.items[i]
            if not self.comparable(other, item) or not other.order() < item.order():
                continue
            score = jaccard(self.sets[i], group)
            if score >= self.threshold - 1e-9 and (best is None or other.order() < best.order()):
                best, best_similarity = other, score
        if best is None:
            return None
        return Reuse(best.deal_id, best.kind, best.id, best.created, best_similarity, best.deal_id == item.deal_id)


# --- a comment that repeats itself ------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_TRAILING = re.compile(r"[\s,;:–—-]+$")


def without_repeats(text: str, min_words: int = 3) -> str:
    """``text`` with every later copy of a run of ``min_words`` or more words cut out.

    «Оплата поступила 100%. Оплата поступила 100%.» → «Оплата поступила 100%.»; a text without such a
    run comes back unchanged."""
    spans = [(m.start(), m.end(), m.group().lower().replace("ё", "е")) for m in _WORD.finditer(text)]
    words = [w for _, _, w in spans]
    cuts = _repeated_runs(words, min_words)
    if not cuts:
        return text
    out, at = [], 0
    for start, end in cuts:
        out.append(text[at:spans[start][0]])
        at = spans[end][0] if end < len(spans) else len(text)
    out.append(text[at:])
    kept = " ".join("".join(out).split())
    return _TRAILING.sub("", kept) or text


def _repeated_runs(words: list[str], size: int) -> list[tuple[int, int]]:
    """(start, end) word ranges that copy an earlier run of at least ``size`` words, left to right; a
    whole text that is one block said again («отказ, передумали отказ, передумали») keeps one block."""
    period = _period(words)
    if period:
        return [(period, len(words))]
    if size < 1 or len(words) < 2 * size:
        return []
    first: dict[tuple[str, ...], int] = {}
    cuts, i, kept_from = [], 0, 0
    while i <= len(words) - size:
        gram = tuple(words[i:i + size])
        if not any(len(w) > 1 and not w.isdigit() for w in gram):  # «24.07.25 / 24.07.25»: dates of a log
            i += 1
            continue
        j = first.get(gram)
        if j is None:
            first[gram] = i
            i += 1
            continue
        start, end = i, i + size
        while end < len(words) and words[j + end - i] == words[end]:
            end += 1
        while start > kept_from and j - (i - start) > 0 and words[j - (i - start) - 1] == words[start - 1]:
            start -= 1  # the copy began before the run first seen: «Пациентка 54 г, боли…» pasted again
        cuts.append((start, end))
        i = kept_from = end
    return cuts


def _period(words: list[str]) -> int | None:
    """The length of the block a text repeats whole, two times or more, or None."""
    n = len(words)
    for size in range(1, n // 2 + 1):
        if n % size == 0 and words == words[:size] * (n // size):
            return size
    return None


@dataclass(frozen=True)
class Judged:
    """A verdict on a comment judged without its repeats; ``repeated`` says some words were cut."""

    expanded: bool
    category: str
    repeated: bool = False


_RANK = {"stop": 0, "padding": 0, "subject_only": 1, "outcome_only": 1, "expanded": 2}


def _rank(verdict: Judgement) -> int:
    return 2 if verdict.expanded else min(_RANK.get(verdict.category, 1), 1)


def judge_without_repeats(texts: Iterable[str], judge: Judge, settings: CrmSettings) -> dict[str, Judgement]:
    """One verdict per distinct non-empty text, in one call to ``judge``. A text with repeated runs is also
    judged without them (:func:`without_repeats`), and the worse verdict stands: pasting a comment twice
    cannot make it pass by length, and cutting «привет привет привет» to «привет» cannot hide padding."""
    unique = list(dict.fromkeys(t for t in texts if t and t.strip()))
    if not unique:
        return {}
    cleaned = {t: without_repeats(t, settings.repeat_min_words) for t in unique}
    asked = list(dict.fromkeys([*unique, *cleaned.values()]))
    verdicts = list(judge(asked))
    if len(verdicts) != len(asked):
        raise ValueError(f"judge returned {len(verdicts)} verdicts for {len(asked)} texts")
    by_text = dict(zip(asked, verdicts))
    out: dict[str, Judgement] = {}
    for text, clean in cleaned.items():
        as_written, without = by_text[text], by_text[clean]
        if clean == text or _rank(as_written) <= _rank(without):
            out[text] = as_written
        else:
            out[text] = Judged(bool(without.expanded), without.category, True)
    return out


# --- promise vs fact ---------------------------------------------------------------------------------------

# Words of a next step with the client; past tense («созвонились», «набрал») is a record, not a promise.
_STEP = re.compile(
    r"\b(?:созвон\w*|перезвон\w*|позвон\w*|звон(?:ок|ка|ить|ю|им)\b|набер\w*|набрат\w*|свяж\w*|связать\w*"
    r"|на связ[ьи]|встреч\w*|встрет\w*|прид(?:у|ет|ут|ем)\b|приед\w*|подъед\w*|визит\w*|верн(?:емся|усь|уться)\b)")
_PAST = re.compile(r"(?:л|ла|ли|ло|лся|лась|лись|лось)$")
_CLAUSE_END = re.compile(r"[.;!?]+(?=\s|$)|\n|\s/\s")
_WEEKDAYS = (("пн", "понедельник"), ("вт", "вторник"), ("ср", "сред"), ("чт", "четверг"), ("пт", "пятниц"),
             ("сб", "суббот"), ("вс", "воскресен"))
_MONTHS = {"янв": 1, "фев": 2, "мар": 3, "апр": 4, "мая": 5, "май": 5, "июн": 6, "июл": 7, "авг": 8, "сен": 9,
           "окт": 10, "ноя": 11, "дек": 12}
_WORD_NUMBERS = {"один": 1, "одну": 1, "пару": 2, "два": 2, "две": 2, "три": 3, "четыре": 4, "пять": 5}
_DATE = re.compile(
    r"(?P<dmy>(?<![\d.])(?P<d>\d{1,2})[./](?P<m>\d{1,2})(?:[./](?P<y>\d{4}|\d{2}))?(?![\d%]|[.,]\d|\s*%|[а-вд-яa-z]))"
    r"|(?P<dmonth>\b(?P<d2>\d{1,2})\s+(?P<month>янв|фев|мар|апр|ма[яй]|июн|июл|авг|сен|окт|ноя|дек)[а-я]*)"
    r"|(?P<weekday>\b(?:пн|понедельник\w*|вт|вторник\w*|ср|сред[ауы]|чт|четверг\w*|пт|пятниц\w*|сб|суббот\w*"
    r"|вс|воскресень\w*)\b)"
    r"|(?P<relative>\b(?:послезавтра|завтра|сегодня)\b)"
    r"|(?P<after>\bчерез\s+(?:(?P<n>\d{1,2}|один|одну|пару|два|две|три|четыре|пять)\s+)?"
    r"(?P<unit>дн[яей]\w*|день|недел\w*|месяц\w*))"
    r"|(?P<nextweek>\bна\s+следующей\s+неделе\b)|(?P<thisweek>\bна\s+этой\s+неделе\b|\bв\s+конце\s+недели\b)"
    r"|(?P<monthend>\bв\s+конце\s+месяца\b)")
_NEAR = 60  # characters between a step word and its date: «созвон в понедельник в 11:00»


@dataclass(frozen=True)
class Promise:
    day: date
    phrase: str  # the words that promise it, as written


def _weekday(text: str) -> int:
    return next(i for i, (short, long) in enumerate(_WEEKDAYS) if text == short or text.startswith(long))


def _month_day(day: int, month: int, year: int | None, written: date) -> date | None:
    try:
        if year is not None:
            return date(year + 2000 if year < 100 else year, month, day)
        found = date(written.year, month, day)
        return found if found >= written else date(written.year + 1, month, day)
    except ValueError:
        return None


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def _day_of(match: re.Match, written: date) -> date | None:
    """The calendar day a date expression names, counted from the day the comment was written."""
    g = match.groupdict()
    if g["dmy"]:
        return _month_day(int(g["d"]), int(g["m"]), int(g["y"]) if g["y"] else None, written)
    if g["dmonth"]:
        return _month_day(int(g["d2"]), _MONTHS[g["month"]], None, written)
    if g["weekday"]:
        ahead = (_weekday(g["weekday"]) - written.weekday()) % 7
        return written + timedelta(days=ahead or 7)
    if g["relative"]:
        return written + timedelta(days={"сегодня": 0, "завтра": 1, "послезавтра": 2}[g["relative"]])
    if g["after"]:
        count = _WORD_NUMBERS.get(g["n"]) if g["n"] and not g["n"].isdigit() else int(g["n"] or 1)
        unit = g["unit"]
        days = 7 if unit.startswith("недел") else 30 if unit.startswith("месяц") else 1
        return written + timedelta(days=days * (count or 1))
    if g["nextweek"]:
        return written + timedelta(days=7 - written.weekday() + 4)  # Friday of next week
    if g["thisweek"]:
        return max(written, written + timedelta(days=4 - written.weekday()))
    return _month_end(written)


def find_promises(text: str, written: date, horizon_days: int = 62) -> tuple[Promise, ...]:
    """Steps promised in ``text`` on a day from ``written`` to ``written`` + ``horizon_days``, in text order.

    A step is a call, a meeting, a visit, «на связи», «вернёмся к вопросу»; its day is a date («15.03»,
    «15 марта»), a weekday («в чт»), «завтра», «через неделю», «на следующей неделе», «в конце месяца»
    in the same clause. A date in the past is a record («созвон 01.10 был»), not a promise."""
    folded = text.lower().replace("ё", "е")
    if len(folded) != len(text):  # a character whose lower case is longer: quote the folded text
        text = folded
    found = []
    start = 0
    for end in [m.start() for m in _CLAUSE_END.finditer(folded)] + [len(folded)]:
        found += _clause_promises(folded, text, start, end, written, horizon_days)
        start = end + 1
    return tuple(found)


def _clause_promises(folded: str, text: str, start: int, end: int, written: date, horizon: int) -> list[Promise]:
    clause = folded[start:end]
    steps = [m for m in _STEP.finditer(clause) if not _PAST.search(m.group())]
    if not steps:
        return []
    dates = [(m, _day_of(m, written)) for m in _DATE.finditer(clause)]
    dates = [(m, d) for m, d in dates if d is not None and written <= d <= written + timedelta(days=horizon)]
    found = []
    for step in steps:
        near = [(_distance(clause, step, m), m, d) for m, d in dates]
        near = [x for x in near if not x[0][0] and x[0][2] <= _NEAR]
        if near:
            _, m, day = min(near, key=lambda x: x[0])
            left, right = min(step.start(), m.start()), max(step.end(), m.end())
            found.append(Promise(day, text[start + left:start + right]))
    return list(dict.fromkeys(found))


def _distance(clause: str, step: re.Match, day: re.Match) -> tuple[int, int, int]:
    """(a comma between, the date before the word, characters between): the smallest goes with the step.
    A date across a comma belongs to another fact («пришлёт справку до пятницы, созвон в понедельник»
    promises the call on Monday); a date after the word comes first («созвон в чт»)."""
    after = day.start() >= step.end()
    between = clause[step.end():day.start()] if after else clause[day.end():step.start()]
    return "," in between, 0 if after else 1, len(between)


@dataclass(frozen=True)
class PromiseCheck:
    """A promised step of a counted comment and whether an interaction followed by the due day."""

    deal_id: str
    manager_id: str | None
    kind: str  # comment or note
    id: str
    written: datetime
    promised: date
    due: date  # promised + the grace period
    phrase: str
    state: str  # kept, broken, pending
    fact_activity_id: str | None = None
    fact_at: datetime | None = None

    def to_dict(self) -> dict:
        return {"deal_id": self.deal_id, "manager_id": self.manager_id, "kind": self.kind, "id": self.id,
                "written": self.written.isoformat(), "promised": self.promised.isoformat(),
                "due": self.due.isoformat(), "phrase": self.phrase, "state": self.state,
                "fact_activity_id": self.fact_activity_id,
                "fact_at": self.fact_at.isoformat() if self.fact_at else None}


def _counted_writing(touch, history: History, deal_id: str, manager_id: str | None) -> Written | None:
    if touch.comment_id:
        comment = next((c for c in history.comments if c.id == touch.comment_id), None)
        return comment_of(comment, deal_id, manager_id) if comment and comment.created else None
    activity = next((a for a in history.activities if a.id == touch.activity_id), None)
    return note_of(activity, deal_id, manager_id) if activity and activity.description else None


def check_promises(deal_id: str, manager_id: str | None, touches, history: History, settings: CrmSettings,
                   now: datetime, zone: tzinfo) -> tuple[PromiseCheck, ...]:
    """For each counted touch whose comment promises a step, the earliest promise and its fact.

    Kept: an interaction with the client (a call, an e-mail, a chat, a meeting — an attempt too: the
    promise was the manager's step) after the comment and by the end of the due day. Broken: the due day
    is over without one. Pending: the due day has not passed yet."""
    today = now.astimezone(zone).date()
    checks = []
    for touch in touches:
        if not touch.counted:
            continue
        writing = _counted_writing(touch, history, deal_id, manager_id)
        if writing is None or writing.created is None:
            continue
        written = writing.created.astimezone(zone)
        promises = find_promises(writing.text, written.date(), settings.promise_horizon_days)
        if not promises:
            continue
        promise = min(promises, key=lambda p: p.day)
        due = promise.day + timedelta(days=settings.promise_grace_days)
        fact = _fact(history, written, due, now, zone)
        state = "kept" if fact else ("broken" if today > due else "pending")
        checks.append(PromiseCheck(deal_id, writing.manager_id, writing.kind, writing.id, writing.created,
                                   promise.day, due, promise.phrase, state, fact.id if fact else None,
                                   fact.start if fact else None))
    return tuple(checks)


def _fact(history: History, after: datetime, due: date, now: datetime, zone: tzinfo) -> Activity | None:
    facts = [a for a in history.activities if a.kind in INTERACTIONS and a.start and after < a.start <= now
             and a.start.astimezone(zone).date() <= due]
    return min(facts, key=lambda a: a.start) if facts else None


# --- bursts before an audit ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Lag:
    """A timeline comment and how long after the deal's latest earlier interaction it was written."""

    manager_id: str | None
    deal_id: str
    comment_id: str
    created: datetime
    hours: float | None  # None: no interaction before it


def comment_lags(deal_id: str, history: History, manager_id: str | None = None) -> list[Lag]:
    ended = sorted((a.end or a.start) for a in history.activities if a.kind in INTERACTIONS and a.start)
    lags = []
    for c in history.comments:
        if not c.created or not c.text:
            continue
        before = [m for m in ended if m <= c.created]
        hours = (c.created - before[-1]).total_seconds() / 3600 if before else None
        lags.append(Lag(c.author_id or manager_id, deal_id, c.id, c.created, hours))
    return lags


@dataclass(frozen=True)
class Burst:
    """A manager's comments written in the days before the audit, and how many of them came late."""

    manager_id: str
    written: int
    late: int
    median_lag_hours: float | None
    pattern: bool
    late_comments: tuple[Lag, ...] = ()

    @property
    def share(self) -> float:
        return self.late / self.written if self.written else 0.0

    def to_dict(self) -> dict:
        return {"manager_id": self.manager_id, "written": self.written, "late": self.late,
                "share": round(self.share, 3), "median_lag_hours": self.median_lag_hours,
                "pattern": self.pattern}


def find_bursts(lags: Iterable[Lag], as_of: datetime, settings: CrmSettings) -> tuple[Burst, ...]:
    """Per manager, the comments written in the ``burst_days`` before ``as_of`` and the late ones among
    them (written over ``burst_late_hours`` after the interaction they follow). A pattern when at least
    ``burst_min_comments`` are late and they are at least ``burst_min_share`` of the manager's comments then."""
    since = as_of - timedelta(days=settings.burst_days)
    recent: dict[str, list[Lag]] = defaultdict(list)
    for lag in lags:
        if since < lag.created <= as_of:
            recent[lag.manager_id or ""].append(lag)
    bursts = []
    for manager, written in sorted(recent.items()):
        late = tuple(sorted((x for x in written if x.hours is not None and x.hours > settings.burst_late_hours),
                            key=lambda x: x.created))
        middle = round(median(x.hours for x in late), 1) if late else None
        pattern = len(late) >= settings.burst_min_comments and len(late) / len(written) >= settings.burst_min_share
        bursts.append(Burst(manager, len(written), len(late), middle, pattern, late))
    return tuple(bursts)
