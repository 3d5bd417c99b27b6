"""crmqc: checks whether a CRM comment is expanded (развёрнутый) and applies the CRM rules.

Names are imported lazily so that ``classifier.crm`` (pure CRM rules) can be imported
without pulling in scikit-learn or FastAPI.
"""

import importlib

_EXPORTS = {
    "classify": "checker",
    "CommentChecker": "checker",
    "ModelError": "model",
    "RuleError": "rules",
    "Verdict": "verdict",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
