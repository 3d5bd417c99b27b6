"""One verdict for one comment, whatever path asked for it.

:class:`CommentChecker` holds the rules, the lemmatiser and the model, built once per
process; :func:`classify` uses a process-wide default checker.
"""

import functools
from dataclasses import dataclass
from pathlib import Path

from . import config
from .features import extract
from .lemmatize import Lemmatizer
from .model import Model, ModelError, load
from .rules import RuleBook
from .verdict import Verdict, make_verdict


def current_model_name(models_dir: Path = config.MODELS_DIR) -> str:
    """The name in ``models/CURRENT``, or the default name when there is no pointer."""
    pointer = Path(models_dir) / config.CURRENT_POINTER.name
    if pointer.is_file():
        name = pointer.read_text(encoding="utf-8").strip()
        if name:
            return name
    return config.DEFAULT_MODEL_NAME


@dataclass
class CommentChecker:
    rules: RuleBook
    lemmatizer: Lemmatizer
    model: Model
    threshold: float | None = None  # overrides the model's own decision threshold when set

    @classmethod
    def load(cls, models_dir: Path | None = None, name: str | None = None,
             rules_dir: Path | None = None, threshold: float | None = None) -> "CommentChecker":
        models_dir = Path(models_dir or config.MODELS_DIR)
        rules = RuleBook.load(Path(rules_dir or config.RULES_DIR))
        model = load(models_dir, name or current_model_name(models_dir), rules.fingerprint())
        return cls(rules=rules, lemmatizer=Lemmatizer(rules.lexicon), model=model, threshold=threshold)

    @property
    def model_version(self) -> str:
        return self.model.version

    @property
    def threshold_in_use(self) -> float:
        return self.model.threshold if self.threshold is None else self.threshold

    def classify(self, text: str, explain: bool = False) -> Verdict:
        return self.classify_many([text], explain=explain)[0]

    def classify_many(self, texts: list[str], explain: bool = False) -> list[Verdict]:
        texts = [t if isinstance(t, str) else "" for t in texts]
        items = [extract(t, self.lemmatizer, self.rules) for t in texts]
        if not items:
            return []
        pred = self.model.predict(items)
        threshold = self.threshold_in_use
        verdicts = []
        for i, text in enumerate(texts):
            decision = self.rules.decide(text, self.lemmatizer, items[i].normalized, items[i].masked)
            if decision is not None:
                category, score, rule = decision.category, 0.0, decision.hit.rule
            else:
                score, rule = float(pred.score[i]), None
                category = "expanded" if score >= threshold else _rejection(pred, i)
            details = self._explain(text, items[i], threshold) if explain else None
            verdicts.append(make_verdict(category, score, rule, self.model_version, details))
        return verdicts

    def _explain(self, text, item, threshold: float) -> dict:
        return {
            "threshold": threshold,
            "normalized": item.normalized,
            "lemmas": list(item.lemmas),
            "rule_hits": [
                {"rule": h.rule, "kind": h.kind, "phrase": h.phrase, "start": h.start, "end": h.end}
                for h in self.rules.stop_hits(text)
            ],
            "top_terms": self.model.top_terms(item),
        }


def contradiction(score: float, label: int, threshold: float) -> float:
    """How firmly a score contradicts a label, 0 (on the threshold or agreeing) to 1 (score 0 for a
    positive, 1 for a negative); measured from the threshold, since the score is not centred on 0.5."""
    if label:
        return max(0.0, (threshold - score) / threshold) if threshold > 0 else 0.0
    return max(0.0, (score - threshold) / (1.0 - threshold)) if threshold < 1 else 0.0


def _rejection(pred, i: int) -> str:
    """Which fact is missing; with neither, `stop` or `padding` as the category head says."""
    subject, outcome = pred.subject[i] >= 0.5, pred.outcome[i] >= 0.5
    if subject or outcome:
        return "subject_only" if pred.subject[i] >= pred.outcome[i] else "outcome_only"
    probs = dict(zip(pred.classes, pred.category_probs[i]))
    return "padding" if probs.get("padding", 0.0) > probs.get("stop", 0.0) else "stop"


@functools.lru_cache(maxsize=1)
def default_checker() -> CommentChecker:
    return CommentChecker.load()


def classify(text: str) -> Verdict:
    """The verdict on one comment with the current model (loaded once per process)."""
    return default_checker().classify(text)


__all__ = ["CommentChecker", "ModelError", "classify", "current_model_name", "default_checker"]
