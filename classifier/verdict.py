"""The verdict on one comment, and the Russian hints a manager reads."""

from dataclasses import dataclass, field, replace

MISSING_BY_CATEGORY = {
    "expanded": (),
    "subject_only": ("outcome",),
    "outcome_only": ("subject",),
    "stop": ("subject", "outcome"),
    "padding": ("subject", "outcome"),
}

HINT_SUBJECT = "Укажите, что обсуждали: вопрос или потребность клиента, условия, цену, сроки, возражения."
HINT_OUTCOME = "Укажите, о чём договорились и когда следующий шаг (дата, время, что произойдёт)."
HINT_STOP = ("Статус звонка («НД», «перезвонить», «думает», «отправил КП») не считается комментарием: "
             "если разговор состоялся, опишите его.")
HINT_PADDING = "Комментарий похож на заполнитель: напишите своими словами, что обсудили и о чём договорились."


@dataclass(frozen=True)
class Verdict:
    expanded: bool
    score: float
    category: str
    missing: tuple[str, ...]
    rule: str | None
    hints: tuple[str, ...]
    model_version: str
    details: dict = field(default_factory=dict, compare=False, repr=False)
    evidence: dict | None = field(default=None, compare=False, repr=False)

    def with_evidence(self, evidence: dict) -> "Verdict":
        return replace(self, evidence=evidence)

    def to_dict(self) -> dict:
        out = {
            "expanded": self.expanded,
            "score": round(self.score, 4),
            "category": self.category,
            "missing": list(self.missing),
            "rule": self.rule,
            "hints": list(self.hints),
            "model_version": self.model_version,
        }
        if self.evidence is not None:
            out["evidence"] = self.evidence
        return out


def hints_for(category: str) -> tuple[str, ...]:
    hints = []
    if category == "stop":
        hints.append(HINT_STOP)
    elif category == "padding":
        hints.append(HINT_PADDING)
    missing = MISSING_BY_CATEGORY[category]
    if "subject" in missing:
        hints.append(HINT_SUBJECT)
    if "outcome" in missing:
        hints.append(HINT_OUTCOME)
    return tuple(hints)


def make_verdict(category: str, score: float, rule: str | None, model_version: str, details=None) -> Verdict:
    return Verdict(
        expanded=category == "expanded",
        score=float(score),
        category=category,
        missing=MISSING_BY_CATEGORY[category],
        rule=rule,
        hints=hints_for(category),
        model_version=model_version,
        details=details or {},
    )
