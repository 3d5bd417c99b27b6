"""The model registry: every trained version in ``models/`` with its card, and ``models/CURRENT``.

A version is ``<name>.joblib`` (scikit-learn objects) beside ``<name>.json`` (its card). Nothing is
overwritten: ``crmqc train`` and ``crmqc retrain`` each add a new version, and promoting one moves
``models/CURRENT`` in one step. Only names of versions that exist here are accepted, and an artifact is
unpickled only after its sha256 matches its card.
"""

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import joblib

from .. import config, fileio
from .features import DENSE_NAMES, FEATURE_VERSION
from .linear import Model, ModelError, library_versions

CARD_FORMAT = 1
POINTER = config.CURRENT_POINTER.name
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
CHECKED_LIBRARIES = ("scikit-learn", "pymorphy3-dicts-ru")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_name(name: str) -> str:
    """``name`` if it can be a version's file name (letters, digits, ``.``, ``_``, ``-``; no path)."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or ".." in name:
        shown = name if isinstance(name, str) and len(name) <= 80 else f"{str(name)[:80]}…"
        raise ModelError(f"{shown!r} is not a model name: use 1–128 letters, digits, '.', '_' or '-'")
    return name


class Registry:
    def __init__(self, models_dir: Path = config.MODELS_DIR):
        self.dir = Path(models_dir)

    # --- versions ------------------------------------------------------------------------------

    def versions(self) -> list[str]:
        """Names of the versions held here (a card with its artifact beside it), oldest first."""
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json")
                      if NAME.fullmatch(p.stem) and (self.dir / f"{p.stem}.joblib").is_file())

    def new_version(self, base: str = config.DEFAULT_MODEL_NAME, at: datetime | None = None) -> str:
        """A name for a version not yet here: ``<base>-<UTC time>``, with a counter if that is taken."""
        check_name(base)
        stamp = f"{base}-{(at or datetime.now(UTC)):%Y%m%dT%H%M%S}"
        name, n = stamp, 1
        while (self.dir / f"{name}.json").exists() or (self.dir / f"{name}.joblib").exists():
            n += 1
            name = f"{stamp}-{n}"
        return name

    # --- the pointer -----------------------------------------------------------------------------

    def current(self) -> str:
        """The version ``models/CURRENT`` names, or the default name when there is no pointer."""
        pointer = self.dir / POINTER
        if pointer.is_file():
            name = pointer.read_text(encoding="utf-8").strip()
            if name:
                return name
        return config.DEFAULT_MODEL_NAME

    def set_current(self, name: str) -> None:
        """Point ``models/CURRENT`` at a version held here, in one step (fsync, then rename)."""
        self.require(name)
        fileio.write_text(self.dir / POINTER, name + "\n")

    # --- cards and artifacts ---------------------------------------------------------------------

    def require(self, name: str) -> None:
        """Refuse a name that is not a version held here, before any file is opened by it."""
        check_name(name)
        if not (self.dir / f"{name}.json").is_file():
            raise ModelError(f"model card {name}.json not found in {self.dir.name}/: "
                             "train a model first with `crmqc train`")
        if not (self.dir / f"{name}.joblib").is_file():
            raise ModelError(f"model file {name}.joblib not found beside its card: retrain with `crmqc train`")

    def read_card(self, name: str) -> dict:
        self.require(name)
        path = self.dir / f"{name}.json"
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"model card {path.name} is not valid JSON: {exc}") from exc
        if not isinstance(card, dict):
            raise ModelError(f"model card {path.name} is not a JSON object")
        return card

    def save(self, model: Model, name: str) -> Path:
        """Write a new version: the artifact, then its card (with the artifact's sha256) last, so a
        version is never listed before both files are complete."""
        check_name(name)
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{name}.joblib"
        tmp = fileio.partial_path(path)
        try:
            joblib.dump(model.objects, tmp, compress=3)
            sha = file_sha256(tmp)
            fileio.replace_with(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        card = dict(model.card, name=name, version=name, artifact=path.name, artifact_sha256=sha,
                    card_format=CARD_FORMAT)
        fileio.write_text(self.dir / f"{name}.json", json.dumps(card, ensure_ascii=False, indent=2) + "\n")
        model.card = card
        return path

    def load(self, name: str, rules_fingerprint: str) -> Model:
        """The version ``name``, after every check of its card; raises :class:`ModelError` naming the problem."""
        card = self.read_card(name)
        path = self.dir / f"{name}.joblib"
        if card.get("artifact") != path.name:
            raise ModelError(f"{name}: its card names the artifact {card.get('artifact')!r}, not {path.name}")
        if card.get("card_format") != CARD_FORMAT:
            raise ModelError(f"{name}: card format {card.get('card_format')} is not {CARD_FORMAT}: retrain")
        if file_sha256(path) != card.get("artifact_sha256"):
            raise ModelError(f"{path.name}: file does not match the sha256 in its card (corrupt or replaced)")
        trained, running = card.get("libraries") or {}, library_versions()
        for lib in CHECKED_LIBRARIES:
            if _minor(trained.get(lib)) != _minor(running.get(lib)):
                raise ModelError(f"{name}: trained with {lib} {trained.get(lib)}, running {running.get(lib)}: "
                                 "retrain with `crmqc train`")
        if card.get("feature_version") != FEATURE_VERSION:
            raise ModelError(f"{name}: trained with feature version {card.get('feature_version')}, this code "
                             f"has {FEATURE_VERSION}: retrain with `crmqc train`")
        if card.get("rules_fingerprint") != rules_fingerprint:
            raise ModelError(f"{name}: trained with other rules (fingerprint {card.get('rules_fingerprint')}, "
                             f"now {rules_fingerprint}): retrain with `crmqc train`")
        try:
            objects = joblib.load(path)
            if not isinstance(objects, dict) or objects.get("dense_names") != list(DENSE_NAMES):
                raise ModelError(f"{name}: its dense features differ from this code's: retrain with `crmqc train`")
            return Model(objects=objects, card=card)
        except ModelError:
            raise
        except Exception as exc:  # a file that passed its checksum but holds something else
            raise ModelError(f"{path.name}: not a model this code can read ({type(exc).__name__}: {exc})") from exc


def _minor(version: str | None) -> str | None:
    return ".".join(str(version).split(".")[:2]) if version else None
