"""Where things live. Importing this module has no side effects."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "rules"
DATA_DIR = ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
TRAIN_CSV = DATA_DIR / "train.csv"
TEST_CSV = DATA_DIR / "test.csv"
SPANS_DIR = DATA_DIR / "spans"
MODELS_DIR = ROOT / "models"
DEFAULT_MODEL_NAME = "comment-quality"
CURRENT_POINTER = MODELS_DIR / "CURRENT"

CATEGORIES = ("stop", "subject_only", "outcome_only", "padding", "expanded")
EXPANDED = "expanded"
SPLIT_SEED = 20261126
TEST_SHARE = 0.2
