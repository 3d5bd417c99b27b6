"""Every audit run is kept: one JSON file per run in a folder (by default ``runs/`` beside the report), so
that the next report shows the change per manager since the previous run and a trend over the runs.

A run is named by the moment it audits (``20261120T120000+0300.json``): auditing the same moment again
replaces that run instead of adding a second one. The previous run is the latest one audited before this
moment, whatever order the runs were made in. A file in the folder that is not a run is skipped and named.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .. import fileio

RUN_VERSION = 1
SUFFIX = ".json"


@dataclass(frozen=True)
class RunHistory:
    """The runs before this one (oldest first), and files in the folder that could not be read."""

    runs: tuple[dict, ...] = ()
    skipped: tuple[str, ...] = field(default=())

    @property
    def previous(self) -> dict | None:
        return self.runs[-1] if self.runs else None


def file_name(as_of: datetime) -> str:
    return as_of.strftime("%Y%m%dT%H%M%S%z") + SUFFIX


def _as_of(run) -> datetime | None:
    if not isinstance(run, dict) or run.get("version") != RUN_VERSION or not isinstance(run.get("managers"), dict):
        return None
    try:
        moment = datetime.fromisoformat(str(run.get("as_of")))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def load_history(folder: Path, before: datetime) -> RunHistory:
    """The runs in ``folder`` audited before ``before``."""
    folder = Path(folder)
    if not folder.is_dir():
        return RunHistory()
    runs, skipped = [], []
    for path in sorted(folder.glob("*" + SUFFIX)):
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            run = None
        moment = _as_of(run)
        if moment is None:
            skipped.append(path.name)
        elif moment < before:
            runs.append((moment, run))
    runs.sort(key=lambda r: r[0])
    return RunHistory(runs=tuple(r for _, r in runs), skipped=tuple(skipped))


def save_run(folder: Path, record: dict) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(datetime.fromisoformat(record["as_of"]))
    fileio.write_text(path, json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True))
    return path
