"""Small helpers the tests share."""

import csv
from pathlib import Path

# Eight short comments of every category, three times over: enough rows for a model to fit in a test.
FIT_TEXTS = [
    ("Обсудили поставку труб, договорились о скидке 5%, отправлю счёт завтра", "expanded"),
    ("Купили у местных, дешевле", "expanded"),
    ("Интересует доставка из Китая, спрашивал про сроки", "subject_only"),
    ("Перезвонить в пятницу", "outcome_only"),
    ("Клиент просит КП на лотки, объём 200 шт", "subject_only"),
    ("Договорились созвониться 12.03 в 15:00", "outcome_only"),
    ("Согласовали цену 320к, подпишет договор до пт", "expanded"),
    ("Не берет трубку", "stop"),
] * 3


def features_of(pipeline, texts) -> list:
    """What the model reads of each text, as ``CommentChecker.features`` makes it."""
    from classifier.model.features import extract
    return [extract(pipeline.prepare(t), pipeline.lemmatizer, pipeline.rules.filler) for t in texts]


def read_csv(path: Path) -> list[dict]:
    """Every row of a UTF-8 CSV file with a header, as dicts of strings."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


class Served:
    """An ASGI app served by uvicorn on a free local port in a thread: a real HTTP server for a test."""

    def __init__(self, app):
        import socket
        import threading

        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "Served":
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
