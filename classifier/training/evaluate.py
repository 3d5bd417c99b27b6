"""Metrics over labelled rows: F1 of `expanded`, per-category accuracy and rejection, confusions."""

from collections import Counter

from .. import config
from ..metrics import scores
from ..verdict import Verdict
from .dataset import LabelledRow


def metrics(rows: list[LabelledRow], verdicts: list[Verdict]) -> dict:
    gold = [r.label for r in rows]
    pred = [int(v.expanded) for v in verdicts]
    s = scores(gold, pred)
    per_category = {}
    for cat in config.CATEGORIES:
        idx = [i for i, r in enumerate(rows) if r.category == cat]
        if not idx:
            continue
        right = sum(verdicts[i].category == cat for i in idx)
        decided = sum(verdicts[i].expanded == (cat == config.EXPANDED) for i in idx)
        per_category[cat] = {"n": len(idx), "category_accuracy": round(right / len(idx), 4),
                             "label_accuracy": round(decided / len(idx), 4)}
    confusion = Counter((r.category, v.category) for r, v in zip(rows, verdicts))
    return {
        "n": len(rows),
        "expanded": {"precision": round(s.precision, 4), "recall": round(s.recall, 4), "f1": round(s.f1, 4),
                     "support": sum(gold)},
        "accuracy": round(sum(g == p for g, p in zip(gold, pred)) / len(rows), 4) if rows else 0.0,
        "category_accuracy": round(sum(r.category == v.category for r, v in zip(rows, verdicts))
                                   / len(rows), 4) if rows else 0.0,
        "per_category": per_category,
        "confusion": {g: {p: confusion[(g, p)] for p in config.CATEGORIES} for g in config.CATEGORIES},
    }


def metrics_by_part(rows: list[LabelledRow], verdicts: list[Verdict]) -> dict:
    """All rows, then each part (hand-written, real, adversarial) that has rows, when there are several."""
    parts = {"all": (rows, verdicts)}
    names = sorted({r.part for r in rows})
    for name in names if len(names) > 1 else []:
        idx = [i for i, r in enumerate(rows) if r.part == name]
        parts[name] = ([rows[i] for i in idx], [verdicts[i] for i in idx])
    return {name: metrics(r, v) for name, (r, v) in parts.items()}


def format_report(report: dict) -> str:
    lines = []
    for part, m in report.items():
        e = m["expanded"]
        lines.append(f"== {part}: {m['n']} rows; expanded P={e['precision']:.3f} R={e['recall']:.3f} "
                     f"F1={e['f1']:.3f} (support {e['support']}); label accuracy {m['accuracy']:.3f}; "
                     f"category accuracy {m['category_accuracy']:.3f}")
        for cat, c in m["per_category"].items():
            lines.append(f"   {cat:<13} n={c['n']:<5} category acc={c['category_accuracy']:.3f}  "
                         f"label acc={c['label_accuracy']:.3f}")
    m = report["all"]
    lines.append("confusion (rows: gold, columns: predicted)")
    lines.append(" " * 14 + "".join(f"{c[:12]:>13}" for c in config.CATEGORIES))
    for g in config.CATEGORIES:
        lines.append(f"{g:<14}" + "".join(f"{m['confusion'][g][p]:>13}" for p in config.CATEGORIES))
    return "\n".join(lines)
