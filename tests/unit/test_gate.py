"""The promotion gate on a fake registry: same rows, margin, refusals, never promoting by default."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest

from fraudcore.gate import GateDecision, decide, run_gate
from fraudcore.models.base import FraudModel
from fraudcore.registry import CHAMPION, RegistryError

FEATURE_SET = "v2-test"
MARGIN = 0.002


class NoisyLabelModel(FraudModel):
    """Scores the label plus noise: the less noise, the better the model."""

    def __init__(self, noise: float, seed: int = 0):
        super().__init__(features=["TX_FRAUD"])
        self.noise, self.seed = noise, seed

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        return frame["TX_FRAUD"].to_numpy(float) + rng.normal(0, self.noise, len(frame))


class Broken(FraudModel):
    def score(self, frame: pd.DataFrame) -> np.ndarray:
        raise KeyError("customer_days_since_last_tx")


class FakeRegistry:
    """In-memory stand-in for ModelRegistry; records every alias move."""

    def __init__(self, models: dict[str, FraudModel], champion: str | None = None, feature_sets=None):
        self.models = models
        self.alias = {} if champion is None else {CHAMPION: champion}
        self.feature_sets = feature_sets or {}
        self.tags: dict[str, dict[str, str]] = {}
        self.moves: list[str] = []
        self.locked = 0
        self.reads = 0
        self.before_second_read = None

    @contextlib.contextmanager
    def exclusive(self, purpose: str):
        self.locked += 1
        yield
        self.locked -= 1

    def still_exclusive(self) -> bool:
        return self.locked > 0 and not getattr(self, "lock_broken", False)

    def aliases(self) -> dict[str, str]:
        assert self.locked, "aliases read outside the lock"
        if self.before_second_read and self.reads == 1:
            self.before_second_read()
        self.reads += 1
        return dict(self.alias)

    def feature_set(self, version: str) -> str | None:
        return self.feature_sets.get(version, FEATURE_SET)

    def load_version(self, version: str) -> FraudModel:
        model = self.models[version]
        if isinstance(model, Exception):
            raise model
        return model

    def set_alias(self, alias: str, version: str) -> None:
        assert self.locked, "alias moved outside the lock"
        self.alias[alias] = version
        self.moves.append(version)

    def tag_version(self, version: str, tags: dict[str, str]) -> None:
        self.tags[version] = tags


@pytest.fixture
def rows() -> pd.DataFrame:
    """A week of evaluation rows: 60 customers a day, 5 % fraud."""
    rng = np.random.default_rng(4)
    n = 7 * 60
    return pd.DataFrame(
        {
            "TX_DATETIME": pd.Timestamp("2018-08-08") + pd.to_timedelta(np.arange(n) // 60, unit="D"),
            "CUSTOMER_ID": np.arange(n) % 60 + 100 * (np.arange(n) // 60),
            "TX_FRAUD": (rng.random(n) < 0.05).astype("int8"),
        }
    )


def _gate(registry: FakeRegistry, rows: pd.DataFrame, version: str = "2") -> GateDecision:
    return run_gate(registry, version, rows, FEATURE_SET, MARGIN)


def test_first_model_is_promoted(rows):
    registry = FakeRegistry({"1": NoisyLabelModel(0.5)})
    decision = _gate(registry, rows, "1")
    assert decision.promote and "no champion yet" in decision.reason
    assert registry.alias[CHAMPION] == "1" and registry.tags["1"]["gate_decision"] == "promoted"


def test_better_candidate_is_promoted_on_the_same_rows_and_both_metrics_are_recorded(rows):
    registry = FakeRegistry({"1": NoisyLabelModel(2.0), "2": NoisyLabelModel(0.3)}, champion="1")
    decision = _gate(registry, rows)
    assert decision.promote and registry.alias[CHAMPION] == "2"
    assert decision.candidate["average_precision"] > decision.champion["average_precision"] + MARGIN
    assert set(decision.metrics()) >= {
        f"gate_{who}_{metric}"
        for who in ("candidate", "champion")
        for metric in ("average_precision", "auc_roc", "card_precision_at_100")
    }
    tags = registry.tags["2"]
    assert tags["gate_compared_with"] == "1" and tags["gate_min_ap_gain"] == str(MARGIN)
    assert f"by the required {MARGIN:.4f}" in tags["gate_reason"]


def test_champion_from_an_easier_week_does_not_block_a_better_candidate(rows):
    """The champion's own evaluation (an easy week, AP 0.99 logged) is never used: both models are
    scored on the candidate's rows, where the candidate is better."""
    champion = NoisyLabelModel(1.5)
    champion.logged_metrics = {"average_precision": 0.99}
    registry = FakeRegistry({"1": champion, "2": NoisyLabelModel(0.8)}, champion="1")
    decision = _gate(registry, rows)
    assert decision.champion["average_precision"] < 0.9
    assert decision.promote and registry.alias[CHAMPION] == "2"


def test_worse_or_not_better_enough_candidate_is_refused(rows):
    registry = FakeRegistry({"1": NoisyLabelModel(0.5), "2": NoisyLabelModel(0.5)}, champion="1")
    decision = _gate(registry, rows)
    assert not decision.promote and "does not beat" in decision.reason and "gain +0.0000" in decision.reason
    assert registry.moves == [] and registry.tags["2"]["gate_decision"] == "refused"
    assert decide({"average_precision": 0.7015}, {"average_precision": 0.70}, MARGIN)[0] is False
    assert decide({"average_precision": 0.7020}, {"average_precision": 0.70}, MARGIN)[0] is True


def test_champion_that_cannot_be_loaded_or_scored_refuses(rows):
    for broken in (OSError("artifact missing in s3://mlflow/…"), Broken()):
        registry = FakeRegistry({"1": broken, "2": NoisyLabelModel(0.3)}, champion="1")
        decision = _gate(registry, rows)
        assert not decision.promote and "could not be loaded or scored" in decision.reason
        assert registry.moves == []


def test_champion_of_another_feature_set_refuses(rows):
    models = {"1": NoisyLabelModel(2.0), "2": NoisyLabelModel(0.3)}
    for other in ("v1-0123456789ab", None):
        registry = FakeRegistry(models, champion="1", feature_sets={"1": other})
        decision = _gate(registry, rows)
        assert not decision.promote and "not comparable" in decision.reason
        assert (other or "unrecorded") in decision.reason and registry.moves == []


def test_registry_error_promotes_nothing(rows):
    registry = FakeRegistry({"2": NoisyLabelModel(0.3)})

    def unreachable():
        raise RegistryError("reading the aliases of 'fraud-detector' failed: connection refused")

    registry.aliases = unreachable
    with pytest.raises(RegistryError, match="connection refused"):
        _gate(registry, rows)
    assert registry.moves == [] and registry.tags == {}


def test_champion_moved_during_the_comparison_is_not_overwritten(rows):
    registry = FakeRegistry(
        {"1": NoisyLabelModel(2.0), "2": NoisyLabelModel(0.3), "3": NoisyLabelModel(0.1)}, champion="1"
    )
    registry.before_second_read = lambda: registry.alias.update({CHAMPION: "3"})  # someone else's move
    decision = _gate(registry, rows)
    assert not decision.promote and "champion moved from 1 to 3" in decision.reason
    assert registry.alias[CHAMPION] == "3" and registry.moves == []


def test_a_gate_whose_lock_was_broken_promotes_nothing(rows):
    registry = FakeRegistry({"1": NoisyLabelModel(2.0), "2": NoisyLabelModel(0.3)}, champion="1")
    registry.lock_broken = True
    decision = _gate(registry, rows)
    assert not decision.promote and "lock was broken" in decision.reason and registry.moves == []
