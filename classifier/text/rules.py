"""Stop phrases, padding detectors and the domain lexicon, loaded from ``rules/*.yaml``.

Rules are data: each has an ``id``, its patterns and ``examples`` that must / must not
match (tests/test_rules.py walks them). A malformed file stops start-up with a
:class:`RuleError` naming the file and the rule.
"""

import functools
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..yamlfile import read_mapping
from .lemmatize import Lemmatizer
from .normalize import ZERO_WIDTH as _ZERO_WIDTH
from .normalize import fold_lookalikes, fold_yo, mask_entities, normalize
from .prepared import Prepared, StopHit
from .tokenize import is_placeholder, is_word, tokenize


class RuleError(ValueError):
    """A rules file is missing or malformed."""


@dataclass(frozen=True)
class RuleHit:
    rule: str
    kind: str  # "stop" or "padding"
    phrase: str
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class StopRule:
    id: str
    description: str
    patterns: tuple[re.Pattern, ...]

    @property
    def combined(self) -> re.Pattern:
        """All patterns as one alternation: one scan of the text instead of one per pattern."""
        return _union(self.patterns)

    def finditer(self, text: str):
        return self.combined.finditer(text)


@functools.cache
def _union(patterns: tuple[re.Pattern, ...]) -> re.Pattern:
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns))


@dataclass(frozen=True)
class RuleDecision:
    """A verdict the rules reach on their own, whatever the model says."""

    category: str  # "stop" or "padding"
    hit: RuleHit


def _read_yaml(path: Path) -> dict:
    return read_mapping(path, RuleError, "rules file")


def _compile(pattern: str, where: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise RuleError(f"{where}: bad pattern {pattern!r}: {exc}") from exc


def _examples(rule: dict, where: str) -> dict:
    examples = rule.get("examples")
    if not isinstance(examples, dict) or not examples.get("match") or "no_match" not in examples:
        raise RuleError(f"{where}: every rule needs examples with `match` and `no_match` lists")
    return {"match": list(examples["match"]), "no_match": list(examples.get("no_match") or [])}


def _load_stop_rules(path: Path) -> tuple[tuple[StopRule, ...], dict[str, dict]]:
    rules, examples, seen = [], {}, set()
    for i, raw in enumerate(_read_yaml(path).get("rules") or []):
        rid = raw.get("id") if isinstance(raw, dict) else None
        where = f"{path.name}: rule {rid or f'#{i + 1}'}"
        if not rid or rid in seen:
            raise RuleError(f"{where}: missing or repeated `id`")
        patterns = raw.get("patterns")
        if not patterns or not isinstance(patterns, list):
            raise RuleError(f"{where}: `patterns` must be a non-empty list")
        seen.add(rid)
        rules.append(StopRule(rid, raw.get("description", ""), tuple(_compile(p, where) for p in patterns)))
        examples[rid] = _examples(raw, where)
    if not rules:
        raise RuleError(f"{path.name}: no rules")
    return tuple(rules), examples


def _load_padding(path: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    detectors, examples = {}, {}
    for i, raw in enumerate(_read_yaml(path).get("detectors") or []):
        rid = raw.get("id") if isinstance(raw, dict) else None
        where = f"{path.name}: detector {rid or f'#{i + 1}'}"
        if rid not in PADDING_DETECTORS:
            raise RuleError(f"{where}: unknown detector id (known: {', '.join(PADDING_DETECTORS)})")
        params = {k: v for k, v in raw.items() if k not in ("id", "description", "examples")}
        for key in ("patterns", "keyboard_patterns"):
            if key in params:
                params[key] = [_compile(p, where) for p in params[key]]
                params[f"_{key}_any"] = _union(tuple(params[key]))  # derived: one scan, not in the fingerprint
        for key in ("field_pattern", "placeholder_pattern"):
            if key in params:
                params[key] = _compile(params[key], where)
        detectors[rid] = params
        examples[rid] = _examples(raw, where)
    return detectors, examples


def _load_words(path: Path, key: str) -> frozenset[str]:
    words = _read_yaml(path).get(key)
    if not isinstance(words, list):
        raise RuleError(f"{path.name}: `{key}` must be a list of words")
    return frozenset(str(w) for w in words)


def _load_lexicon(path: Path) -> dict[str, str]:
    lemmas = _read_yaml(path).get("lemmas")
    if not isinstance(lemmas, dict):
        raise RuleError(f"{path.name}: `lemmas` must map a token to its lemma")
    return {str(k): str(v) for k, v in lemmas.items()}


def light_normalize(text: str) -> str:
    """Length-preserving normalisation, so that rule spans index the original text."""
    return fold_yo(fold_lookalikes(text)).lower()


@dataclass(frozen=True)
class RuleBook:
    stop_rules: tuple[StopRule, ...]
    padding: dict[str, dict]
    filler: frozenset[str]
    greetings: frozenset[str]
    lexicon: dict[str, str]
    examples: dict[str, dict]

    @classmethod
    def load(cls, rules_dir: Path) -> "RuleBook":
        rules_dir = Path(rules_dir)
        stop_rules, stop_examples = _load_stop_rules(rules_dir / "stop_phrases.yaml")
        padding, padding_examples = _load_padding(rules_dir / "padding.yaml")
        return cls(
            stop_rules=stop_rules,
            padding=padding,
            filler=_load_words(rules_dir / "filler.yaml", "filler"),
            greetings=_load_words(rules_dir / "filler.yaml", "greetings"),
            lexicon=_load_lexicon(rules_dir / "lexicon.yaml"),
            examples={**stop_examples, **padding_examples},
        )

    def fingerprint(self) -> str:
        """A hash of everything that changes features (not of the examples)."""
        payload = {
            "stop": [[r.id, [p.pattern for p in r.patterns]] for r in self.stop_rules],
            "padding": {k: {p: _plain(v) for p, v in d.items() if not p.startswith("_")}
                        for k, d in self.padding.items()},
            "filler": sorted(self.filler),
            "greetings": sorted(self.greetings),
            "lexicon": self.lexicon,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]

    # --- stop phrases -------------------------------------------------------------------------

    @functools.cached_property
    def _scanner(self) -> re.Pattern:
        """Every stop pattern in one alternation, each rule a named group: one scan finds all rules."""
        return re.compile("|".join(f"(?P<r{i}>{'|'.join(f'(?:{p.pattern})' for p in rule.patterns)})"
                                   for i, rule in enumerate(self.stop_rules)))

    def scan(self, text: str, light: str | None = None) -> tuple[StopHit, ...]:
        """Every stop phrase in ``text`` (any form), leftmost first, none overlapping, with spans into
        ``text`` itself. ``light`` is ``light_normalize(text)`` when the caller has it. Zero-width
        characters inside a phrase («н\u200bд») do not hide it."""
        offsets = None
        if _ZERO_WIDTH.search(text):
            offsets = [i for i, ch in enumerate(text) if not _ZERO_WIDTH.match(ch)]
            light = light_normalize("".join(text[i] for i in offsets))
        elif light is None:
            light = light_normalize(text)
        rules, hits = self.stop_rules, []
        for m in self._scanner.finditer(light):
            start, end = m.span()
            if end == start:
                continue
            if offsets is not None:
                start, end = offsets[start], offsets[end - 1] + 1
            hits.append(StopHit(rules[int(m.lastgroup[1:])].id, text[start:end], start, end))
        return tuple(hits)

    # --- decisions ----------------------------------------------------------------------------

    def decide(self, prepared: Prepared, lemmatizer: Lemmatizer) -> RuleDecision | None:
        """`padding` or `stop` when the rules are sure; ``None`` leaves it to the model.

        A rule decides only when nothing but stop phrases, filler and contacts remains, so a stop
        phrase inside a comment with content decides nothing."""
        normalized, tokens = prepared.normalized, prepared.tokens
        padding = self.padding_hit(prepared, lemmatizer)
        if padding:
            return RuleDecision("padding", padding)
        if any(not self._is_filler(t, lemmatizer) for t in _without_stop_phrases(prepared)):
            return None
        if _copied(tokens):  # «сбросил сбросил сбросил», «ЗВОНОК ЗВОНОК ЗВОНОК ЗВОНОК»
            return RuleDecision("padding", RuleHit("repetition", "padding", normalized[:80]))
        if prepared.stop_hits:
            h = prepared.stop_hits[0]
            return RuleDecision("stop", RuleHit(h.rule, "stop", h.phrase, h.start, h.end))
        if tokens:
            return RuleDecision("stop", RuleHit("filler_only", "stop", prepared.text.strip()))
        return RuleDecision("stop", RuleHit("empty", "stop", ""))

    def _is_filler(self, token: str, lemmatizer: Lemmatizer) -> bool:
        if is_placeholder(token):
            return token in CONTACT_PLACEHOLDERS  # a contact's phone alone is an admin note
        lemma = lemmatizer.lemma(token)
        return lemma in self.filler or lemma in self.greetings or not is_word(token)

    # --- padding detectors ----------------------------------------------------------------------

    def padding_hit(self, prepared: Prepared, lemmatizer: Lemmatizer) -> RuleHit | None:
        for rid, detect in PADDING_DETECTORS.items():
            params = self.padding.get(rid)
            if params is not None and detect(self, params, prepared, lemmatizer):
                return RuleHit(rid, "padding", prepared.normalized[:80])
        return None


CONTACT_PLACEHOLDERS = frozenset({"_phone_", "_email_"})
_LETTER = re.compile(r"[а-яa-z]")


def _without_stop_phrases(prepared: Prepared) -> list[str]:
    """The tokens of the comment once its stop phrases are cut out (the spans of one scan)."""
    if not prepared.stop_hits:
        return list(prepared.tokens)
    return tokenize(mask_entities(normalize(prepared.replace_stop_phrases(" "))))


def _copied(tokens: list[str]) -> bool:
    """Stop phrases or filler copied to look long: four or more words, at most half of them distinct.

    A dated log of attempts («не дозвон 20.03 / не дозвон 14.05») is a record, not a copy."""
    if "_date_" in tokens or "_time_" in tokens:
        return False
    return len(tokens) >= 4 and len(set(tokens)) / len(tokens) <= 0.5


def _plain(value):
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _repetition(book, p, prepared: Prepared, lemmatizer) -> bool:
    if len(prepared.tokens) < p["min_tokens"]:
        return False
    words = [t for t in prepared.tokens if not is_placeholder(t)]
    if len(words) < p["min_tokens"]:
        return False
    if len(set(words)) / len(words) <= p["max_unique_ratio"]:
        return True
    n = p["ngram"]
    grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return bool(grams) and max(grams.values()) >= p["min_ngram_repeats"]


def _gibberish(book, p, prepared: Prepared, lemmatizer) -> bool:
    keyboard = p.get("_keyboard_patterns_any")
    if keyboard is not None and keyboard.search(prepared.normalized):
        return True
    shortest = p["min_word_length"]
    words = [t for t in prepared.tokens if len(t) >= shortest and t.isalpha()]
    if len(words) < p["min_words"]:
        return False
    unknown = sum(not lemmatizer.is_known(w) for w in words)
    return unknown / len(words) >= p["min_unknown_ratio"]


def _lorem(book, p, prepared: Prepared, lemmatizer) -> bool:
    return p["_patterns_any"].search(prepared.normalized) is not None


def _template(book, p, prepared: Prepared, lemmatizer) -> bool:
    normalized = prepared.normalized
    empty = len(p["field_pattern"].findall(normalized)) + len(p["placeholder_pattern"].findall(normalized))
    return empty >= p["min_empty_fields"]


def _symbols_only(book, p, prepared: Prepared, lemmatizer) -> bool:
    normalized = prepared.normalized
    if len(normalized) < p["min_length"] or _LETTER.search(normalized):
        return False
    return not set(prepared.tokens) - {"_num_"}


def _greetings_only(book, p, prepared: Prepared, lemmatizer) -> bool:
    lemmas = prepared.lemmas
    has_greeting = any(lemma in book.greetings for lemma in lemmas)
    return has_greeting and all(lemma in book.greetings or lemma in book.filler for lemma in lemmas)


PADDING_DETECTORS = {
    "lorem": _lorem,
    "template": _template,
    "gibberish": _gibberish,
    "repetition": _repetition,
    "symbols_only": _symbols_only,
    "greetings_only": _greetings_only,
}
