"""Which model is in service, and how it changes without a restart: pin, follow ``models/CURRENT``, reload.

Plain Python (no FastAPI): the app holds one :class:`ModelSlot`, and the tests drive it directly.
"""

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from ..checker import CommentChecker
from ..model.linear import ModelError
from ..model.registry import Registry

log = logging.getLogger("crmqc")


class ModelSlot:
    """The checker in service. A reload loads beside the one in service, then swaps: requests in flight
    keep the old one, and a model that fails to load never replaces it.

    ``fixed_name`` (``CRMQC_MODEL_NAME``) serves that version instead of following ``models/CURRENT``.
    ``reload(name)`` **pins** ``name``: the watcher leaves it in service until a reload without a name.
    """

    def __init__(self, models_dir: Path, rules_dir: Path, threshold: float | None = None,
                 fixed_name: str | None = None, loader: Callable[..., CommentChecker] = CommentChecker.load):
        self.registry = Registry(models_dir)
        self.rules_dir, self.threshold, self.fixed_name = rules_dir, threshold, fixed_name
        self._load = loader
        self._lock = threading.Lock()
        self.checker: CommentChecker | None = None
        self.pinned = False
        self.current_seen: str | None = None  # the name last read from models/CURRENT

    def install(self, checker: CommentChecker) -> None:
        """Serve a checker loaded elsewhere (at start-up, before a fork)."""
        with self._lock:
            self.checker = checker
            if self.fixed_name is None:  # a preloaded checker comes from CURRENT
                self.current_seen = checker.model.card.get("name")

    @property
    def follows_current(self) -> bool:
        return not self.pinned and self.fixed_name is None

    def reload(self, name: str | None = None, *, from_watcher: bool = False) -> CommentChecker | None:
        """Load ``name`` (pin it), or the fixed name, or the version CURRENT names; then swap.

        ``from_watcher`` drops the loaded model if a pin arrived while it was loading (and returns
        None), so a slow watcher reload never overrides an admin's choice. Raises ModelError."""
        pointer = None
        if name is None and self.fixed_name is None:
            pointer = self.registry.current()
        checker = self._load(models_dir=self.registry.dir, name=name or self.fixed_name or pointer,
                             rules_dir=self.rules_dir, threshold=self.threshold)
        with self._lock:
            if from_watcher and self.pinned:
                log.info("models/CURRENT names %s, but a pinned model stays in service", pointer)
                return None
            self.checker = checker
            self.pinned = name is not None
            if pointer is not None:
                self.current_seen = pointer
        log.info("serving model %s%s", checker.model_version, " (pinned)" if name is not None else "")
        return checker

    def check_current(self) -> bool:
        """One look at models/CURRENT; True when it named a new model and that model went into service.

        Compares the pointer with the value last read from it, not with the model in service: a pinned
        model differs from CURRENT on purpose. While a pin holds, nothing is read. Blocking (file reads,
        model loading): call it in a thread. Load errors propagate and the pointer counts as unread, so
        the next check tries again."""
        if self.pinned or self.fixed_name is not None:
            return False
        if self.registry.current() == self.current_seen:
            return False
        return self.reload(from_watcher=True) is not None

    async def watch(self, every: float, longest: float, sleep=asyncio.sleep) -> None:
        """Follow models/CURRENT forever: a promoted model goes into service without a restart.

        Any error is logged and retried after a wait that doubles up to ``longest``, so a pointer at a
        broken model costs one log line per wait, not a busy loop."""
        delay = every
        while True:
            await sleep(delay)
            try:
                await asyncio.to_thread(self.check_current)
            except Exception as exc:
                retry = min(delay * 2, max(longest, every))
                if isinstance(exc, ModelError):
                    log.error("models/CURRENT names a model that does not load (next try in %.3g s): %s",
                              retry, exc)
                else:
                    log.exception("checking models/CURRENT failed (next try in %.3g s)", retry)
                delay = retry
            else:
                delay = every
