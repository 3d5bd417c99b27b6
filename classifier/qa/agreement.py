"""Agreement between annotators: Cohen's kappa per pair, Krippendorff's alpha over all (nltk)."""

from collections import Counter, defaultdict
from itertools import combinations

from nltk.metrics.agreement import AnnotationTask

from ..metrics import scores
from ..training.dataset import LabelledRow, exact_key


def _by_item(rows) -> dict[int, dict[str, str]]:
    items: dict[int, dict[str, str]] = defaultdict(dict)
    for r in rows:
        items[r["comment_id"]][r["annotator"]] = r["category"]
    return items


def cohen_kappa(table: dict[tuple[str, str], int]) -> float | None:
    """Cohen's kappa from a contingency table {(first's value, second's value): count}; 1.0 when both
    always give the one same value (kappa is then 0/0); None for an empty table."""
    n = sum(table.values())
    if not n:
        return None
    observed = sum(c for (a, b), c in table.items() if a == b) / n
    first, second = Counter(), Counter()
    for (a, b), c in table.items():
        first[a] += c
        second[b] += c
    expected = sum(first[k] * second[k] for k in first) / n / n
    if expected >= 1.0:
        return 1.0
    return (observed - expected) / (1.0 - expected)


def _kappa(pairs: list[tuple[str, str]]) -> float | None:
    return cohen_kappa(Counter(pairs))


def agreement(rows, texts: dict[int, str] | None = None) -> dict:
    """``rows``: each annotator's current label (comment_id, annotator, category)."""
    items = _by_item(rows)
    shared = {i: labels for i, labels in items.items() if len(labels) >= 2}
    annotators = sorted({a for labels in items.values() for a in labels})
    pairs = []
    for a, b in combinations(annotators, 2):
        both = [(labels[a], labels[b]) for labels in shared.values() if a in labels and b in labels]
        kappa = _kappa(both)
        pairs.append({"a": a, "b": b, "items": len(both),
                      "kappa": None if kappa is None else round(kappa, 4),
                      "agree": round(sum(x == y for x, y in both) / len(both), 4) if both else None})
    triples = [(a, str(i), c) for i, labels in shared.items() for a, c in labels.items()]
    alpha = AnnotationTask(data=triples).alpha() if triples else None
    disagreements = [{"comment_id": i, "text": (texts or {}).get(i, ""), "labels": labels}
                     for i, labels in sorted(shared.items()) if len(set(labels.values())) > 1]
    return {"annotators": annotators, "shared_items": len(shared), "pairs": pairs,
            "alpha": None if alpha is None else round(alpha, 4), "disagreements": disagreements}


def compare_files(first: list[LabelledRow], second: list[LabelledRow]) -> dict:
    """Two labellers' files (LABELLING.md format), matched by normalised text: kappa on the label and on
    the category, and precision/recall/F1 of `expanded` taking ``first`` as the reference (F1 is the
    same either way round)."""
    a = {exact_key(r.text): r for r in first}
    b = {exact_key(r.text): r for r in second}
    shared = [k for k in a if k in b]
    labels = [(str(a[k].label), str(b[k].label)) for k in shared]
    categories = [(a[k].category, b[k].category) for k in shared]
    s = scores([a[k].label for k in shared], [b[k].label for k in shared])
    return {
        "shared": len(shared), "only_first": len(a) - len(shared), "only_second": len(b) - len(shared),
        "label_kappa": _round(_kappa(labels)), "category_kappa": _round(_kappa(categories)),
        "label_agree": _round(sum(x == y for x, y in labels) / len(labels)) if labels else None,
        "expanded": {"both": s.tp, "only_second": s.fp, "only_first": s.fn,
                     "precision": _round(s.precision) if s.tp + s.fp else None,
                     "recall": _round(s.recall) if s.tp + s.fn else None,
                     "f1": _round(s.f1) if s.defined else None},
        "disagreements": [{"text": a[k].text, "first": a[k].category, "second": b[k].category}
                          for k, (x, y) in zip(shared, labels) if x != y],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
