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


POSTGRES_ENV = "CRMQC_TEST_DATABASE_URL"


def _postgres_url() -> str:
    """The test PostgreSQL (.ci/run starts one and sets CRMQC_TEST_DATABASE_URL), or a skip saying why."""
    import os

    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        pytest.skip(f"no PostgreSQL for the integration store: set {POSTGRES_ENV} (.ci/postgres starts one)")
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError
    try:
        create_engine(url).connect().close()
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} is not reachable: {str(exc.orig).strip()[:200]}")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Each integration-store test runs on SQLite and on PostgreSQL, from empty tables."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'b24.sqlite3'}"
    url = _postgres_url()
    from sqlalchemy import create_engine

    from classifier.bitrix24.store import metadata
    engine = create_engine(url)
    metadata.drop_all(engine)
    engine.dispose()
    return url
