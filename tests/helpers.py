"""Small helpers the tests share."""

import csv
from pathlib import Path


def read_csv(path: Path) -> list[dict]:
    """Every row of a UTF-8 CSV file with a header, as dicts of strings."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))
