"""The CRM rules pull in neither scikit-learn nor FastAPI (DESIGN.md: imports point down)."""

import subprocess
import sys

HEAVY = ("sklearn", "scipy", "fastapi", "starlette", "pydantic", "pymorphy3", "joblib")


def test_importing_the_crm_rules_and_the_audit_loads_no_model_or_web_framework():
    code = ("import sys, classifier.crm, classifier.crm.bitrix, classifier.crm.deals, classifier.crm.leads, "
            "classifier.crm.contacts, classifier.crm.duplicates, classifier.audit.report; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
