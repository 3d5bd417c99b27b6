"""The QA loop end to end: import, two annotators label, agreement, export, retrain, the service
switches to the promoted model without a restart."""

import csv
import shutil
import time

import pytest
from fastapi.testclient import TestClient

from classifier import config
from classifier.cli import main
from classifier.model.registry import Registry
from classifier.qa.retrain import Decision, _compare
from classifier.service.app import create_app
from classifier.service.settings import Settings
from tests.helpers import read_csv

CATEGORIES = list(config.CATEGORIES)


@pytest.fixture
def models_dir(tmp_path):
    target = tmp_path / "models"
    target.mkdir()
    name = Registry().current()
    for ext in ("joblib", "json"):
        shutil.copy(config.MODELS_DIR / f"{name}.{ext}", target)
    (target / "CURRENT").write_text(name + "\n", encoding="utf-8")
    return target


@pytest.fixture
def pool_csv(tmp_path):
    rows = read_csv(config.TRAIN_CSV)[:60]
    path = tmp_path / "pool.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "gold"])
        w.writerows([[r["text"], r["category"]] for r in rows])
    return path, {r["text"]: r["category"] for r in rows}


def _label(client, annotator, mode, gold, n, flip_every=0):
    for k in range(n):
        item = client.get("/v1/labelling/next", params={"annotator": annotator, "mode": mode}).json()
        assert not item["done"] and item["guess"]["category"] in CATEGORIES
        category = gold[item["text"]]
        if flip_every and k % flip_every == 0:
            category = CATEGORIES[(CATEGORIES.index(category) + 1) % 5]
        r = client.post("/v1/labelling/labels", json={"comment_id": item["comment_id"], "annotator": annotator,
                                                      "category": category, "seconds": 3.5})
        assert r.status_code == 200


def test_label_agree_export_retrain_reload(tmp_path, models_dir, pool_csv, capsys):
    db = tmp_path / "labels.sqlite3"
    pool, gold = pool_csv
    assert main(["--store", str(db), "pool", "import", str(pool)]) == 0
    # the pool is made of training rows, so data/ is not the one they are labelled in
    settings = Settings(store_path=db, models_dir=models_dir, admin_keys=["adm"], watch_seconds=0.2, data_dir=tmp_path)
    old_name = Registry(models_dir).current()
    with TestClient(create_app(settings)) as client:
        old_version = client.get("/readyz").json()["model_version"]
        _label(client, "anna", "uncertain", gold, 20)
        _label(client, "boris", "overlap", gold, 20, flip_every=5)
        stats = client.get("/v1/labelling/stats", params={"annotator": "boris"}).json()
        assert stats["labelled_today"] == 20 and stats["seconds_per_comment"] == 3.5
        assert stats["agreement"][0]["with"] == "anna" and stats["agreement"][0]["items"] == 20

        capsys.readouterr()
        assert main(["--store", str(db), "agreement"]) == 0
        out = capsys.readouterr().out
        assert "anna ~ boris: 20 shared" in out and "disagreements: 4" in out

        export = tmp_path / "labels.csv"
        assert main(["--store", str(db), "labels", "export", str(export)]) == 0
        assert len(read_csv(export)) == 20

        assert main(["--store", str(db), "--models-dir", str(models_dir), "retrain"]) == 0
        out = capsys.readouterr().out
        assert "mean F1 of `expanded` over the hand-written and the real rows of data/test.csv" in out
        promoted = "PROMOTED" in out and "NOT promoted" not in out
        new_name = Registry(models_dir).current()
        assert (new_name != old_name) == promoted
        assert len(list(models_dir.glob("*.json"))) == 2, "every version stays with its card"

        # switch without a restart: the pointer watcher, then the admin call
        (models_dir / "CURRENT").write_text(sorted(p.stem for p in models_dir.glob("*.json"))[-1] + "\n")
        deadline = time.monotonic() + 10
        while client.get("/readyz").json()["model_version"] == old_version and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/readyz").json()["model_version"] != old_version
        assert client.post("/v1/admin/reload").status_code == 401
        reloaded = client.post("/v1/admin/reload", headers={"X-Admin-Key": "adm"})
        assert reloaded.status_code == 200
        bad = client.post("/v1/admin/reload", params={"model": "nope"}, headers={"X-Admin-Key": "adm"})
        assert bad.status_code == 422 and "old one stays" in bad.json()["detail"]
        assert client.post("/v1/comments/score", json={"text": "НД"}).status_code == 200


class _Fake:
    def __init__(self, version, f1, adv):
        self.model_version, self.scores = version, {"test_mean_f1": f1, "adversarial_accuracy": adv}


@pytest.mark.parametrize("new,old,promoted", [
    ((0.90, 0.95), (0.89, 0.95), True),
    ((0.90, 0.95), (0.90, 0.95), True),
    ((0.88, 0.99), (0.89, 0.95), False),
    ((0.95, 0.90), (0.89, 0.95), False),
], ids=["better", "equal", "worse F1", "worse on adversarial"])
def test_promotion_rule(monkeypatch, new, old, promoted):
    monkeypatch.setattr("classifier.qa.retrain.score", lambda checker, paths: checker.scores)
    decision = _compare(_Fake("new", *new), _Fake("old", *old))
    assert isinstance(decision, Decision) and decision.promoted is promoted
    assert len(decision.reasons) == 2
