"""Reading a YAML file that must hold a mapping, with errors that name the file."""

from pathlib import Path

import yaml


def read_mapping(path: Path, error: type[Exception], kind: str, allow_empty: bool = False) -> dict:
    """The top-level mapping of ``path``; ``error`` (naming the file) when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path.name}: {kind} not found in {path.parent.name}/")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{path.name}: not valid YAML: {exc}") from exc
    if data is None and allow_empty:
        return {}
    if not isinstance(data, dict):
        raise error(f"{path.name}: expected a mapping at the top level")
    return data
