"""The models behind the registry aliases, swapped in without a restart and without a pause.

A new version is loaded and warmed beside the one serving, then the slot's reference is switched
(one assignment, atomic in Python): a request uses either the old model or the new one, whole.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fraudcore.features.definitions import MODEL_FEATURES
from fraudcore.models.base import FraudModel
from fraudcore.registry import ModelRegistry

log = logging.getLogger(__name__)


class IncompatibleModel(ValueError):
    """The model needs features the service does not compute."""


@dataclass(frozen=True)
class LoadedModel:
    role: str
    version: str
    model: FraudModel


def check_and_warm(model: FraudModel) -> None:
    """Refuse a model that needs features this service does not compute; pay its first-call costs."""
    missing = sorted(set(model.features) - set(MODEL_FEATURES))
    if missing:
        raise IncompatibleModel(f"needs features this service does not compute: {missing}")
    model.score_columns({name: np.zeros(1) for name in model.features})


class ModelSlot:
    """The model of one alias (``champion``, ``challenger``) in this process."""

    def __init__(
        self,
        registry: ModelRegistry,
        alias: str,
        on_swap: Callable[[LoadedModel | None, LoadedModel | None], None],
        compile_dir: Path | None = None,
    ):
        self.registry = registry
        self.alias = alias
        self.on_swap = on_swap
        self.compile_dir = compile_dir
        self.current: LoadedModel | None = None

    def refresh(self) -> bool:
        """Follow the alias: load and switch to the version it names (or drop the model when it names
        none). Returns whether anything changed; registry errors propagate, the old model stays."""
        version = self.registry.aliases().get(self.alias)
        previous = self.current
        if version is None:
            self.current = None
        elif previous is None or previous.version != version:
            model = self.registry.load_version(version).use_threads(1)
            check_and_warm(model)
            self.current = LoadedModel(self.alias, version, model)
            if self.compile_dir is not None:
                threading.Thread(
                    target=_compile, args=(model, self.compile_dir, f"{self.alias} {version}"), daemon=True
                ).start()
        if self.current is previous:
            return False
        self.on_swap(previous, self.current)
        return True


def _compile(model: FraudModel, cache_dir: Path, what: str) -> None:
    """Compile ``model`` in the background: it scores with its own code until the switch, and with
    the same probabilities after it."""
    started = time.monotonic()
    try:
        if model.compile(cache_dir):
            log.info("%s: compiled scorer in use (%.1f s)", what, time.monotonic() - started)
    except Exception as error:  # the model keeps scoring as it did
        log.warning("%s: compiling failed, scoring uncompiled: %s", what, error)


class ModelWatcher(threading.Thread):
    """Refreshes the slots every ``poll_s`` seconds; a failed refresh keeps the model serving."""

    def __init__(self, slots: list[ModelSlot], poll_s: float, on_error: Callable[[str, Exception], None]):
        super().__init__(name="model-watcher", daemon=True)
        self.slots, self.poll_s, self.on_error = slots, poll_s, on_error
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.poll_s):
            for slot in self.slots:
                try:
                    started = time.monotonic()
                    if slot.refresh():
                        log.info(
                            "%s now version %s (%.1f s)",
                            slot.alias,
                            slot.current and slot.current.version,
                            time.monotonic() - started,
                        )
                except Exception as error:  # the registry or the artifact store is down: keep serving
                    log.warning("refreshing %s failed, keeping the model loaded: %s", slot.alias, error)
                    self.on_error(slot.alias, error)


class Every(threading.Thread):
    """Runs ``action`` every ``seconds`` in the background; a failure is logged and retried."""

    def __init__(self, seconds: float, action: Callable[[], object], name: str):
        super().__init__(name=name, daemon=True)
        self.seconds, self.action = seconds, action
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.seconds):
            try:
                self.action()
            except Exception as error:
                log.warning("%s failed: %s", self.name, error)
