import pytest

from classifier import config
from classifier.text.lemmatize import Lemmatizer
from classifier.text.rules import RuleBook


@pytest.fixture(scope="session")
def rules() -> RuleBook:
    return RuleBook.load(config.RULES_DIR)


@pytest.fixture(scope="session")
def lemmatizer(rules) -> Lemmatizer:
    return Lemmatizer(rules.lexicon)


@pytest.fixture(scope="session")
def checker():
    """The trained model in models/ (`make test` trains one first)."""
    from classifier.checker import CommentChecker
    return CommentChecker.load()
