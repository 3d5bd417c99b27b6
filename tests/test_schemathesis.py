"""Every operation of the API against its own OpenAPI document, by schemathesis (property-based).

The app runs in-process (ASGI) with the trained model, a temporary labels store and a live Bitrix24
integration on a temporary SQLite database, twice: with no API keys, and with ``CRMQC_API_KEYS`` (and
``CRMQC_ADMIN_KEYS``) set, where each generated request goes once with valid keys and once without a key
(which must be a documented 401). Every built-in check runs: no 5xx, only documented status codes, content
types, headers and bodies, schema-valid data accepted, invalid data refused, a wrong method 405 with
``Allow``. The few cases a check cannot judge are left out of that check only, each saying why below.
Bounded: derandomized, 20 examples per operation and phase: about a minute for the file.
"""

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from classifier.bitrix24.wire import WireError, parse_pairs
from classifier.service.app import create_app
from classifier.service.settings import Settings

from .test_bitrix24_events import b24_settings

API_KEY, ADMIN_KEY = "st-api-key", "st-admin-key"
MAX_EXAMPLES = 20

CONFIG = {
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "checks": {
        # Invalid data is refused with 4xx: a body over CRMQC_MAX_BODY_BYTES (an array past its maxItems can be
        # 40 MB) with a documented 413, before it is parsed, as well as with the default 400/422.
        "negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "406", "409",
                                                          "413", "415", "422", "428", "429"]},
    },
}
# Schema-valid requests these operations refuse with a documented 422 naming the field, so the check that
# schema-valid data is accepted does not hold for them:
# - the CRM calls take Bitrix24 records as the portal returns them (open objects whose fields the CRM rules
#   read and validate: a deal without ID, a date in a number field);
# - an admin reload names a model version, and which ones models/ holds is the server's state.
RECORDS_VALIDATED_BY_THE_RULES = ("/v1/deals/evaluate", "/v1/deals/duplicates", "/v1/leads/conversion-check",
                                  "/v1/contacts/check", "/v1/contacts/duplicates", "/v1/admin/reload")

# The document does not depend on settings or the model: read it from an app that is never started, so the
# operations are known when the tests are collected. (schemathesis.pytest.from_fixture would build it from
# a fixture, but fails on pytest 9, whose nodes have no ``_nodeid``.)
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi(), config=SchemathesisConfig.from_dict(CONFIG))


class Api:
    def __init__(self, app, keys: bool):
        self.app, self.keys = app, keys


@pytest.fixture(scope="module", params=["no keys", "keys"])
def api(request, checker, tmp_path_factory):
    keys = request.param == "keys"
    var = tmp_path_factory.mktemp("schemathesis")
    settings = Settings(store_path=var / "labels.sqlite3", watch_current=False,
                        api_keys=[API_KEY] if keys else [], admin_keys=[ADMIN_KEY] if keys else [])
    yield Api(create_app(settings, checker=checker, b24=b24_settings(var)), keys)
    shutdown_lifespans()  # the app's lifespan, started by the first call: closes the stores it opened


DOUBLE_EXACT = 2**53


def past_doubles(value) -> bool:
    """An integer a double cannot hold exactly, anywhere in ``value``."""
    if isinstance(value, dict):
        return any(past_doubles(v) for v in value.values())
    if isinstance(value, list):
        return any(past_doubles(v) for v in value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > DOUBLE_EXACT


def positive_check_misled(case) -> bool:
    """Schemathesis computes the edges of a 64-bit range (an id up to 2**63 - 1) in doubles, and sends values
    past the documented maximum (9223372036854775999 for a maximum of 9223372036854775807) as valid ones:
    the 422 they get is right, so whether valid data is accepted cannot be judged from such a case."""
    return any(past_doubles(part) for part in (case.body, case.path_parameters, case.query))


def repeats_an_id(case) -> bool:
    """A batch whose ids repeat (1 and "1" are two ids): a documented 422 naming the item, which JSON Schema
    cannot say (uniqueItems compares whole items)."""
    comments = case.body.get("comments") if isinstance(case.body, dict) else None
    if case.operation.path != "/v1/comments/score-batch" or not isinstance(comments, list):
        return False
    keys = [(str, i) if isinstance(i, str) else (int, int(i))  # 1.0 is read as 1
            for c in comments if isinstance(c, dict)
            for i in [c.get("id")] if isinstance(i, (str, int, float)) and not isinstance(i, bool)
            and (not isinstance(i, float) or i.is_integer())]
    return len(set(keys)) < len(keys)


def keys_clash(case) -> bool:
    """An event form whose bracketed keys clash (``a=1&a[b]=2``: a value and a parent at once), a documented
    400 that JSON Schema cannot say: each key alone matches the documented pattern."""
    if case.operation.path != "/v1/bitrix24/events" or not isinstance(case.body, dict):
        return False
    try:
        parse_pairs([(str(key), "") for key in case.body])
    except WireError:
        return True
    return False


@schema.parametrize()
def test_api_contract(case, api):
    excluded = ([positive_data_acceptance] if case.operation.path in RECORDS_VALIDATED_BY_THE_RULES
                or positive_check_misled(case) or repeats_an_id(case) or keys_clash(case) else [])
    if not api.keys:
        case.call_and_validate(app=api.app, excluded_checks=excluded)
        return
    case.call_and_validate(app=api.app, headers={"X-API-Key": API_KEY, "X-Admin-Key": ADMIN_KEY},
                           excluded_checks=excluded)
    # Without a key, a guarded call is refused (401) before it is routed, whatever its method: so a wrong
    # method gets 401 there, not the 405 the unsupported-method check expects.
    guarded = case.operation.path not in ("/healthz", "/readyz", "/v1/bitrix24/events")
    case.call_and_validate(app=api.app, headers={"X-API-Key": ""},
                           excluded_checks=[*excluded, unsupported_method] if guarded else excluded)
