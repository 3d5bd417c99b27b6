"""One verdict per comment, whatever path asked for it: ``CommentChecker.classify_many``.

text → :class:`~classifier.text.pipeline.TextPipeline` (prepare once, rules first) → features → model
(only for the comments no rule decided) → :class:`~classifier.verdict.Verdict`. The API, the CLI,
batch scoring, the labelling queue, retraining and the CRM rules all call it.
"""

from dataclasses import dataclass
from pathlib import Path

from . import config
from .model.features import Features, extract
from .model.linear import Model, Prediction
from .model.registry import Registry
from .text.lemmatize import Lemmatizer
from .text.pipeline import TextPipeline
from .text.prepared import Prepared
from .text.rules import RuleBook
from .verdict import Verdict, make_verdict


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

    def classify(self, text: str, explain: bool = False) -> Verdict:
        return self.classify_many([text], explain=explain)[0]

    def classify_many(self, texts: list[str], explain: bool = False) -> list[Verdict]:
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
                category = "expanded" if score >= threshold else _rejection(pred, row[i])
            details = self._explain(p, items.get(i) or self.features(p), threshold) if explain else None
            verdicts.append(make_verdict(category, score, rule, self.model_version, details))
        return verdicts

    def _explain(self, prepared: Prepared, item: Features, threshold: float) -> dict:
        return {
            "threshold": threshold,
            "normalized": prepared.normalized,
            "lemmas": list(prepared.lemmas),
            "rule_hits": [{"rule": h.rule, "kind": "stop", "phrase": h.phrase, "start": h.start, "end": h.end}
                          for h in prepared.stop_hits],
            "top_terms": self.model.top_terms(item),
        }


def contradiction(score: float, label: int, threshold: float) -> float:
    """How firmly a score contradicts a label, 0 (on the threshold or agreeing) to 1 (score 0 for a
    positive, 1 for a negative); measured from the threshold, since the score is not centred on 0.5."""
    if label:
        return max(0.0, (threshold - score) / threshold) if threshold > 0 else 0.0
    return max(0.0, (score - threshold) / (1.0 - threshold)) if threshold < 1 else 0.0


def _rejection(pred: Prediction, i: int) -> str:
    """Which fact is missing; with neither, `stop` or `padding` as the category head says."""
    subject, outcome = pred.subject[i] >= 0.5, pred.outcome[i] >= 0.5
    if subject or outcome:
        return "subject_only" if pred.subject[i] >= pred.outcome[i] else "outcome_only"
    probs = dict(zip(pred.classes, pred.category_probs[i]))
    return "padding" if probs.get("padding", 0.0) > probs.get("stop", 0.0) else "stop"
