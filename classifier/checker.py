"""One verdict per comment, whatever path asked for it: ``CommentChecker.classify_many``.

text → :class:`~classifier.text.pipeline.TextPipeline` (prepare once, rules first) → features → model
(only for the comments no rule decided) → :class:`~classifier.verdict.Verdict`. The API, the CLI,
batch scoring, the labelling queue, retraining and the CRM rules all call it.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config
from .model.clauses import FACTS
from .model.features import Features, extract
from .model.linear import Model, Prediction
from .model.registry import Registry
from .text.clauses import clause_spans
from .text.lemmatize import Lemmatizer
from .text.pipeline import TextPipeline
from .text.prepared import Prepared
from .text.rules import RuleBook
from .verdict import Verdict, make_verdict

# A clause counts as evidence of a fact at this share of the comment's best clause for it. By the span
# labels, out of fold by business (bench/evidence.py, 1,269 accepted multi-clause comments), characters of
# the evidence against the labelled substrings, F1 subject / outcome: share 0.2 0.864 / 0.791, 1/3 0.865 /
# 0.791, 0.5 0.863 / 0.788, 0.67 0.854 / 0.783, 1 (the best clause only) 0.653 / 0.631.
EVIDENCE_SHARE = 1 / 3


@dataclass
class CommentChecker:
    pipeline: TextPipeline
    model: Model
    threshold: float | None = None  # overrides the model's own decision threshold when set

    @classmethod
    def load(cls, models_dir: Path | None = None, name: str | None = None,
             rules_dir: Path | None = None, threshold: float | None = None) -> "CommentChecker":
        registry = Registry(models_dir or config.MODELS_DIR)
        pipeline = TextPipeline.load(Path(rules_dir or config.RULES_DIR))
        model = registry.load(name or registry.current(), pipeline.rules.fingerprint())
        return cls(pipeline=pipeline, model=model, threshold=threshold)

    @property
    def rules(self) -> RuleBook:
        return self.pipeline.rules

    @property
    def lemmatizer(self) -> Lemmatizer:
        return self.pipeline.lemmatizer

    @property
    def model_version(self) -> str:
        return self.model.version

    @property
    def threshold_in_use(self) -> float:
        return self.model.threshold if self.threshold is None else self.threshold

    def features(self, prepared: Prepared) -> Features:
        return extract(prepared, self.pipeline.lemmatizer, self.pipeline.rules.filler)

    def classify(self, text: str, explain: bool = False, evidence: bool = False) -> Verdict:
        return self.classify_many([text], explain=explain, evidence=evidence)[0]

    def classify_many(self, texts: list[str], explain: bool = False, evidence: bool = False) -> list[Verdict]:
        """The verdicts; ``evidence`` adds, for each fact the verdict finds, the clauses that carry it."""
        prepared = self.pipeline.prepare_many(texts)
        decisions = [self.pipeline.decide(p) for p in prepared]
        undecided = [i for i, d in enumerate(decisions) if d is None]
        items = {i: self.features(prepared[i]) for i in undecided}
        pred = self.model.predict([items[i] for i in undecided]) if undecided else None
        row = {i: k for k, i in enumerate(undecided)}
        threshold = self.threshold_in_use
        verdicts = []
        for i, p in enumerate(prepared):
            decision = decisions[i]
            if decision is not None:
                category, score, rule = decision.category, 0.0, decision.hit.rule
            else:
                score, rule = float(pred.score[row[i]]), None
                category = "expanded" if score >= threshold else _rejection(pred, row[i], bool(p.stop_hits))
            details = self._explain(p, items.get(i) or self.features(p), threshold) if explain else None
            verdict = make_verdict(category, score, rule, self.model_version, details)
            if evidence:
                per_clause = pred.clauses[row[i]] if i in row and pred.clauses is not None else None
                verdict = verdict.with_evidence(self._evidence(p, verdict, per_clause))
            verdicts.append(verdict)
        return verdicts

    def _evidence(self, prepared: Prepared, verdict: Verdict,
                  per_clause: np.ndarray | None = None) -> dict[str, list[dict]]:
        """For each fact the verdict finds (not in ``missing``), the clauses the model reads it in.

        Each clause is scored by the model's clause heads (``per_clause``: the prediction's (n_clauses, 2)
        array) or, for a model without them, by the two whole-text heads on the clause alone. Clauses are
        compared with the comment's best clause for that fact: a clause is evidence of a fact when it scores
        at least ``EVIDENCE_SHARE`` of that best, and no lower, relative to the best, than for the other fact
        found; the best clause always is. A fact the verdict misses has no evidence, so the two never
        contradict each other."""
        present = [f for f in FACTS if f not in verdict.missing]
        if not present:
            return {f: [] for f in FACTS}
        text = prepared.text
        spans = clause_spans(text)
        if len(spans) <= 1:
            whole = spans or [(0, len(text))]
            return {f: [_span(text, *whole[0])] if f in present else [] for f in FACTS}
        chosen = evidence_clauses(self.evidence_scores(prepared, spans, per_clause), present)
        return {fact: [_span(text, *spans[k]) for k in chosen[fact]] for fact in FACTS}

    def evidence_scores(self, prepared: Prepared, spans: list[tuple[int, int]],
                        per_clause: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Per fact, each clause's score as a share of the best clause's; a clause that is nothing but a stop
        phrase or a status scores 0 (unless every clause is one)."""
        if per_clause is not None and len(per_clause) == len(spans):
            relative = {fact: per_clause[:, k] / max(float(per_clause[:, k].max()), 1e-12)
                        for k, fact in enumerate(FACTS)}
        else:
            relative = self.clause_scores(prepared.text, spans)
        status = _stop_only(prepared.text, spans, prepared)
        if status.all():
            return relative
        return {fact: np.where(status, 0.0, rel) for fact, rel in relative.items()}

    def clause_scores(self, text: str, spans: list[tuple[int, int]]) -> dict[str, np.ndarray]:
        """Per fact, each clause's probability of stating it, as a share of the best clause's."""
        pred = self.model.predict([self.features(self.pipeline.prepare(text[a:b])) for a, b in spans])
        return {fact: probs / max(float(probs.max()), 1e-12)
                for fact, probs in (("subject", pred.subject), ("outcome", pred.outcome))}

    def _explain(self, prepared: Prepared, item: Features, threshold: float) -> dict:
        return {
            "threshold": threshold,
            "normalized": prepared.normalized,
            "lemmas": list(prepared.lemmas),
            "rule_hits": [{"rule": h.rule, "kind": "stop", "phrase": h.phrase, "start": h.start, "end": h.end}
                          for h in prepared.stop_hits],
            "top_terms": self.model.top_terms(item),
        }


def evidence_clauses(relative: dict[str, np.ndarray], present: list[str],
                     share: float = EVIDENCE_SHARE) -> dict[str, list[int]]:
    """Which clauses are evidence of each present fact: the best one, and those at ``share`` of it or more
    that are no weaker, relative to the best, for this fact than for the other present one."""
    out = {}
    for fact in FACTS:
        if fact not in present:
            out[fact] = []
            continue
        other = next((f for f in present if f != fact), None)
        rel = relative[fact]
        best = int(rel.argmax())
        out[fact] = [k for k in range(len(rel)) if k == best or (
            rel[k] >= share and (other is None or rel[k] >= relative[other][k]))]
    return out


def _stop_only(text: str, spans: list[tuple[int, int]], prepared: Prepared) -> np.ndarray:
    """Per clause: every letter of it lies in a stop phrase («Созвонился», «Ответил секретарь»)."""
    covered = np.zeros(len(text), dtype=bool)
    for hit in prepared.stop_hits:
        covered[hit.start:hit.end] = True
    return np.asarray([all(covered[j] for j in range(a, b) if text[j].isalpha()) for a, b in spans], dtype=bool)


def _span(text: str, start: int, end: int) -> dict:
    return {"start": start, "end": end, "text": text[start:end]}


def contradiction(score: float, label: int, threshold: float) -> float:
    """How firmly a score contradicts a label, 0 (on the threshold or agreeing) to 1 (score 0 for a
    positive, 1 for a negative); measured from the threshold, since the score is not centred on 0.5."""
    if label:
        return max(0.0, (threshold - score) / threshold) if threshold > 0 else 0.0
    return max(0.0, (score - threshold) / (1.0 - threshold)) if threshold < 1 else 0.0


# P(stop) of the category head: more likely than not. On train.csv, 99.8 % of the 1,099 gold `stop` rows
# with no rule hit reach it, and none of the other categories' rows do.
SURE_STOP = 0.5


def _rejection(pred: Prediction, i: int, has_stop_phrase: bool = True) -> str:
    """Which fact is missing; with neither, `stop` or `padding` as the category head says.

    `stop` tells the manager «a stop phrase or a call status»: said of a comment with no stop phrase in it
    and on a weak guess of the category head («Сделал презентацию, клиенту понравилось, ждёт договор»:
    0.18), it contradicts the text, so such a comment is told the weaker of the two facts is missing. Statuses the rules
    do not list get P(stop) near 1 and stay `stop`."""
    subject, outcome = pred.subject[i] >= 0.5, pred.outcome[i] >= 0.5
    one_fact = "subject_only" if pred.subject[i] >= pred.outcome[i] else "outcome_only"
    if subject or outcome:
        return one_fact
    probs = dict(zip(pred.classes, pred.category_probs[i]))
    if probs.get("padding", 0.0) > probs.get("stop", 0.0):
        return "padding"
    return "stop" if has_stop_phrase or probs.get("stop", 0.0) >= SURE_STOP else one_fact
