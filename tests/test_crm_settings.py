"""rules/crm.yaml: the regulation's defaults, and errors that name the file and the key."""

import shutil
from datetime import timedelta, timezone

import pytest

from classifier import config
from classifier.crm.settings import CrmSettings, CrmSettingsError, load_settings


def test_crm_yaml_states_the_defaults():
    assert load_settings() == CrmSettings()


def test_gaming_values():
    settings = load_settings()
    assert (settings.reuse_similarity, settings.reuse_shingle_words, settings.reuse_min_words) == (0.6, 2, 6)
    assert (settings.promise_grace_days, settings.burst_days, settings.burst_min_share) == (2, 3, 0.5)


def test_a_gaming_value_overrides_the_default(crm_yaml):
    crm_yaml.write_text("reuse:\n  similarity: 0.9\npromise:\n  grace_days: 0\n", encoding="utf-8")
    settings = load_settings(crm_yaml)
    assert (settings.reuse_similarity, settings.promise_grace_days, settings.reuse_min_words) == (0.9, 0, 6)


def test_regulation_values():
    settings = load_settings()
    assert settings.product_group_field == "UF_CRM_PRODUCT_GROUP"
    assert settings.activity_window_months == 2
    assert settings.min_call_seconds == 30 and settings.comment_window_hours == 24
    assert settings.conversion_policy == "not_stop"


@pytest.fixture
def crm_yaml(tmp_path):
    target = tmp_path / "crm.yaml"
    shutil.copy(config.RULES_DIR / "crm.yaml", target)
    return target


def test_a_value_overrides_the_default(crm_yaml):
    crm_yaml.write_text("touch:\n  min_call_seconds: 45\nportal:\n  utc_offset: '+00:00'\n", encoding="utf-8")
    settings = load_settings(crm_yaml)
    assert settings.min_call_seconds == 45 and settings.portal_tz == timezone(timedelta(0))
    assert settings.comment_window_hours == 24


MALFORMED = [
    ("negative seconds", "touch:\n  min_call_seconds: -5\n", "crm.yaml: touch.min_call_seconds"),
    ("seconds as text", "touch:\n  min_call_seconds: тридцать\n", "crm.yaml: touch.min_call_seconds"),
    ("zero months", "deal:\n  activity_window_months: 0\n", "crm.yaml: deal.activity_window_months"),
    ("a typo in a key", "touch:\n  min_call_second: 30\n", "crm.yaml: touch.min_call_second: unknown key"),
    ("unknown section", "deals:\n  x: 1\n", "crm.yaml: deals: unknown section"),
    ("bad policy", "lead:\n  conversion_policy: any\n", "crm.yaml: lead.conversion_policy"),
    ("bad field code", "deal:\n  product_group_field: 'товарная группа'\n", "crm.yaml: deal.product_group_field"),
    ("bad kind", "touch:\n  description_is_comment: [call, sms]\n", "crm.yaml: touch.description_is_comment"),
    ("bad provider kind", "activity_kinds:\n  by_provider: {CRM_SMS: message}\n",
     "crm.yaml: activity_kinds.by_provider"),
    ("bad offset", "portal:\n  utc_offset: MSK\n", "crm.yaml: portal.utc_offset"),
    ("bad name field", "contact:\n  full_name_fields: [FIO]\n", "crm.yaml: contact.full_name_fields"),
    ("section not a mapping", "touch: 30\n", "crm.yaml: touch: expected a mapping"),
    ("similarity above 1", "reuse:\n  similarity: 1.5\n", "crm.yaml: reuse.similarity"),
    ("similarity zero", "reuse:\n  similarity: 0\n", "crm.yaml: reuse.similarity"),
    ("similarity as text", "reuse:\n  similarity: high\n", "crm.yaml: reuse.similarity"),
    ("zero-word shingles", "reuse:\n  shingle_words: 0\n", "crm.yaml: reuse.shingle_words"),
    ("negative grace", "promise:\n  grace_days: -1\n", "crm.yaml: promise.grace_days"),
    ("a typo in a gaming key", "burst:\n  late_hour: 72\n", "crm.yaml: burst.late_hour: unknown key"),
    ("burst share as yes", "burst:\n  min_share: yes\n", "crm.yaml: burst.min_share"),
    ("not YAML", "touch: [unclosed\n", "crm.yaml: not valid YAML"),
    ("a list at the top", "- 1\n", "crm.yaml: expected a mapping"),
]


@pytest.mark.parametrize("case,text,says", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_crm_yaml_names_the_file_and_key(crm_yaml, case, text, says):
    crm_yaml.write_text(text, encoding="utf-8")
    with pytest.raises(CrmSettingsError, match=says.replace(".", r"\.")):
        load_settings(crm_yaml)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CrmSettingsError, match="crm.yaml: settings file not found"):
        load_settings(tmp_path / "crm.yaml")


def test_an_empty_file_keeps_the_defaults(crm_yaml):
    crm_yaml.write_text("# nothing here\n", encoding="utf-8")
    assert load_settings(crm_yaml) == CrmSettings()
