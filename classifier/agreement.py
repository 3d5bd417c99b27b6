"""Agreement between annotators: Cohen's kappa per pair, Krippendorff's alpha over all (nltk)."""

from collections import defaultdict
from itertools import combinations

from nltk.metrics.agreement import AnnotationTask


def _by_item(rows) -> dict[int, dict[str, str]]:
    items: dict[int, dict[str, str]] = defaultdict(dict)
    for r in rows:
        items[r["comment_id"]][r["annotator"]] = r["category"]
    return items


def _kappa(pairs: list[tuple[str, str]]) -> float | None:
    if not pairs:
        return None
    if all(a == b for a, b in pairs) and len({a for a, _ in pairs}) == 1:
        return 1.0  # a single shared value: perfect agreement, kappa is undefined (0/0)
    data = [(c, str(i), v) for i, pair in enumerate(pairs) for c, v in zip(("a", "b"), pair)]
    return AnnotationTask(data=data).kappa()


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
