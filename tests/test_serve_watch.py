"""The models/CURRENT watcher: it follows the pointer, never undoes an admin's pin, and survives errors."""

import asyncio
import json
import logging
import shutil
import time
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from classifier import config
from classifier.model.linear import ModelError
from classifier.model.registry import Registry
from classifier.service.app import create_app
from classifier.service.hotswap import ModelSlot
from classifier.service.settings import Settings

ADMIN = {"X-Admin-Key": "adm"}


@pytest.fixture
def models_dir(tmp_path):
    """Three loadable models, alpha, beta and gamma (copies of the trained one), CURRENT at alpha."""
    source = Registry().current()
    card = json.loads((config.MODELS_DIR / f"{source}.json").read_text(encoding="utf-8"))
    target = tmp_path / "models"
    target.mkdir()
    for name in ("alpha", "beta", "gamma"):
        shutil.copy(config.MODELS_DIR / f"{source}.joblib", target / f"{name}.joblib")
        copy = dict(card, name=name, version=f"{name}-1", artifact=f"{name}.joblib")
        (target / f"{name}.json").write_text(json.dumps(copy), encoding="utf-8")
    _point(target, "alpha")
    return target


def _point(models_dir, name):
    (models_dir / "CURRENT").write_text(name + "\n", encoding="utf-8")


def _settings(tmp_path, models_dir, **changes) -> Settings:
    values = dict(models_dir=models_dir, store_path=tmp_path / "labels.sqlite3", admin_keys=["adm"],
                  watch_seconds=3600)  # the background loop stays asleep: the tests call check_current
    values.update(changes)
    return Settings(**values)


def _serving(client) -> str:
    return client.get("/readyz").json()["model_version"]


def _wait(condition, what, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds} s for {what}")
        time.sleep(0.01)


def test_follows_current_when_not_pinned(tmp_path, models_dir):
    with TestClient(create_app(_settings(tmp_path, models_dir))) as client:
        assert _serving(client) == "alpha-1"
        assert client.app.state.slot.check_current() is False, "CURRENT has not changed"
        _point(models_dir, "gamma")
        assert client.app.state.slot.check_current() is True
        assert _serving(client) == "gamma-1"
        assert client.app.state.slot.check_current() is False


def test_a_pin_holds_until_a_reload_without_a_model(tmp_path, models_dir):
    with TestClient(create_app(_settings(tmp_path, models_dir))) as client:
        r = client.post("/v1/admin/reload", params={"model": "beta"}, headers=ADMIN)
        assert r.status_code == 200
        assert r.json() == {"model_version": "beta-1", "follows_current": False}
        for _ in range(3):
            assert client.app.state.slot.check_current() is False
        assert _serving(client) == "beta-1", "the watcher undid the pin"

        _point(models_dir, "gamma")
        assert client.app.state.slot.check_current() is False
        assert _serving(client) == "beta-1", "a change of CURRENT undid the pin"

        r = client.post("/v1/admin/reload", headers=ADMIN)
        assert r.json() == {"model_version": "gamma-1", "follows_current": True}
        assert client.app.state.slot.check_current() is False, "the reload has read CURRENT already"
        _point(models_dir, "alpha")
        assert client.app.state.slot.check_current() is True
        assert _serving(client) == "alpha-1"


def test_pinning_the_model_current_names_still_pins(tmp_path, models_dir):
    with TestClient(create_app(_settings(tmp_path, models_dir))) as client:
        assert client.post("/v1/admin/reload", params={"model": "alpha"}, headers=ADMIN).status_code == 200
        _point(models_dir, "beta")
        assert client.app.state.slot.check_current() is False
        assert _serving(client) == "alpha-1"


def test_a_failed_pin_changes_nothing(tmp_path, models_dir):
    with TestClient(create_app(_settings(tmp_path, models_dir))) as client:
        bad = client.post("/v1/admin/reload", params={"model": "nope"}, headers=ADMIN)
        assert bad.status_code == 422 and "old one stays" in bad.json()["detail"]
        _point(models_dir, "beta")
        assert client.app.state.slot.check_current() is True, "a failed pin must not stop the watcher"
        assert _serving(client) == "beta-1"


def test_a_watcher_load_that_finishes_after_a_pin_is_dropped(tmp_path, models_dir):
    with TestClient(create_app(_settings(tmp_path, models_dir))) as client:
        client.post("/v1/admin/reload", params={"model": "beta"}, headers=ADMIN)
        _point(models_dir, "gamma")
        # what the watcher does when the pin arrived while it was loading CURRENT's model
        assert client.app.state.slot.reload(from_watcher=True) is None
        assert _serving(client) == "beta-1"


def test_a_broken_current_is_retried_until_it_loads(tmp_path, models_dir):
    with TestClient(create_app(_settings(tmp_path, models_dir))) as client:
        (models_dir / "gamma.joblib").write_bytes(b"not a model")
        _point(models_dir, "gamma")
        for _ in range(2):
            with pytest.raises(ModelError, match="sha256"):
                client.app.state.slot.check_current()
        assert _serving(client) == "alpha-1"
        shutil.copy(models_dir / "beta.joblib", models_dir / "gamma.joblib")
        assert client.app.state.slot.check_current() is True
        assert _serving(client) == "gamma-1"


def test_the_running_watcher_keeps_a_pin(tmp_path, models_dir, monkeypatch):
    checks = []

    def counted(slot):
        checks.append(real(slot))
        return checks[-1]

    real = ModelSlot.check_current
    monkeypatch.setattr(ModelSlot, "check_current", counted)

    def run(n):
        start = len(checks)
        _wait(lambda: len(checks) >= start + n, f"{n} watcher checks")

    with TestClient(create_app(_settings(tmp_path, models_dir, watch_seconds=0.01))) as client:
        assert client.post("/v1/admin/reload", params={"model": "beta"}, headers=ADMIN).status_code == 200
        run(5)
        assert _serving(client) == "beta-1", "the watcher undid the pin"
        _point(models_dir, "gamma")
        run(5)
        assert _serving(client) == "beta-1", "a change of CURRENT undid the pin"
        assert client.post("/v1/admin/reload", headers=ADMIN).json()["model_version"] == "gamma-1"
        _point(models_dir, "alpha")
        _wait(lambda: _serving(client) == "alpha-1", "the watcher to follow CURRENT again")


def test_a_model_name_setting_turns_the_watcher_off(tmp_path, models_dir):
    settings = _settings(tmp_path, models_dir, model_name="beta")
    with TestClient(create_app(settings)) as client:
        assert _serving(client) == "beta-1"
        r = client.post("/v1/admin/reload", headers=ADMIN)
        assert r.json() == {"model_version": "beta-1", "follows_current": False}


def test_the_reload_route_documents_the_pin(tmp_path, models_dir):
    with TestClient(create_app(_settings(tmp_path, models_dir))) as client:
        route = client.get("/openapi.json").json()["paths"]["/v1/admin/reload"]["post"]
        assert "pinned" in route["description"] and "models/CURRENT" in route["description"]
        assert "pin" in route["parameters"][0]["description"]


def _run_watcher(outcomes, watch_seconds, watch_max_seconds) -> list[float]:
    """Run the real watch loop over scripted check results (an exception is raised); the waits it made."""
    waits = []

    def check():
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def sleep(seconds):
        if not outcomes:
            raise asyncio.CancelledError
        waits.append(seconds)

    slot = ModelSlot(config.MODELS_DIR, config.RULES_DIR)
    slot.check_current = check
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(slot.watch(watch_seconds, watch_max_seconds, sleep=sleep))
    return waits


def test_the_loop_survives_any_error_and_backs_off(caplog):
    """Errors double the wait up to the cap, a success resets it; only cancellation ends the loop."""
    outcomes = [OSError("disk gone"), RuntimeError("bug"), ModelError("broken card"), ValueError("x"),
                KeyError("y"), RuntimeError("again"), False, RuntimeError("after a success")]
    with caplog.at_level(logging.ERROR, logger="crmqc"):
        waits = _run_watcher(outcomes, watch_seconds=1, watch_max_seconds=8)
    assert waits == [1, 2, 4, 8, 8, 8, 8, 1]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 7
    assert "broken card" in errors[2].getMessage() and errors[2].exc_info is None, "a load error needs no traceback"
    assert errors[0].exc_info is not None and "next try in 2 s" in errors[0].getMessage()


def test_the_cap_is_never_below_the_poll_interval():
    waits = _run_watcher([RuntimeError("a"), RuntimeError("b")], watch_seconds=5, watch_max_seconds=1)
    assert waits == [5, 5]


@pytest.mark.parametrize("argv, served", [
    ([], "alpha-1"),                                   # CURRENT in --models-dir
    (["--model", "gamma"], "gamma-1"),                 # --model wins over CRMQC_MODEL_NAME
])
def test_crmqc_serve_takes_models_dir_and_model_from_the_command_line(models_dir, monkeypatch, argv, served):
    import uvicorn

    from classifier import cli
    monkeypatch.setenv("CRMQC_MODELS_DIR", str(models_dir.parent / "nowhere"))
    monkeypatch.setenv("CRMQC_MODEL_NAME", "beta")
    monkeypatch.setenv("CRMQC_STORE_PATH", str(models_dir.parent / "labels.sqlite3"))
    if not argv:
        monkeypatch.delenv("CRMQC_MODEL_NAME")
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    assert cli.main(["--models-dir", str(models_dir), *argv, "serve", "--port", "8765"]) == 0
    with TestClient(started["app"]) as client:
        assert client.get("/v1/model").json()["version"] == served
    assert started["port"] == 8765


def _stub_slot(tmp_path, fixed_name=None):
    """A ModelSlot over a models folder of bare pointers, whose loader only records what it was asked."""
    (tmp_path / "CURRENT").write_text("v1\n", encoding="utf-8")
    loaded = []

    def load(models_dir, name, rules_dir, threshold):
        if name == "broken":
            raise ModelError("broken card")
        loaded.append(name)
        return SimpleNamespace(model_version=name, model=SimpleNamespace(card={"name": name}))

    return ModelSlot(tmp_path, config.RULES_DIR, fixed_name=fixed_name, loader=load), loaded


def test_the_slot_follows_pins_and_survives_failed_loads_without_http(tmp_path):
    slot, loaded = _stub_slot(tmp_path)
    slot.reload()
    assert slot.checker.model_version == "v1" and slot.follows_current
    assert slot.check_current() is False and loaded == ["v1"], "an unchanged pointer loads nothing"
    (tmp_path / "CURRENT").write_text("v2\n", encoding="utf-8")
    assert slot.check_current() is True and slot.checker.model_version == "v2"
    slot.reload("pinned")
    assert slot.pinned and not slot.follows_current
    (tmp_path / "CURRENT").write_text("v3\n", encoding="utf-8")
    assert slot.check_current() is False and slot.checker.model_version == "pinned"
    with pytest.raises(ModelError):
        slot.reload("broken")
    assert slot.checker.model_version == "pinned" and slot.pinned, "a failed load changes nothing"
    slot.reload()
    assert slot.checker.model_version == "v3" and slot.follows_current


def test_a_fixed_name_never_follows_current(tmp_path):
    slot, loaded = _stub_slot(tmp_path, fixed_name="fixed")
    slot.reload()
    (tmp_path / "CURRENT").write_text("v2\n", encoding="utf-8")
    assert slot.check_current() is False and loaded == ["fixed"] and not slot.follows_current


@pytest.mark.parametrize("name", ["../..", "../models/alpha", "/etc/passwd", "alpha.json", "x" * 5000],
                         ids=["parent", "relative", "absolute", "card file", "very long"])
def test_reload_accepts_only_versions_held_in_models(tmp_path, models_dir, name):
    with TestClient(create_app(_settings(tmp_path, models_dir))) as client:
        r = client.post("/v1/admin/reload", params={"model": name}, headers=ADMIN)
        assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("model")
        assert _serving(client) == "alpha-1"
