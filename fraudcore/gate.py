"""The promotion gate: challenger and champion scored on the same rows, promotion by a stated margin.

The gate never promotes by default: a champion that cannot be loaded or scored, or that was
trained on another feature set, refuses the candidate with the reason; a registry it cannot
read raises :class:`~fraudcore.registry.RegistryError` and nothing moves. Gates take the
registry's lock, so two concurrent gates compare one after the other; the champion alias is
re-read just before it is moved and only moved if it is still the model that was compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from fraudcore.evaluation import fraud_metrics
from fraudcore.models.base import FraudModel
from fraudcore.registry import CHAMPION

#: The metric the gate compares (AUC ROC and CP@100 are recorded beside it).
GATE_METRIC = "average_precision"


class Registry(Protocol):
    """What the gate needs from the registry (``fraudcore.registry.ModelRegistry``; fakes in tests)."""

    def exclusive(self, purpose: str): ...
    def still_exclusive(self) -> bool: ...
    def aliases(self) -> dict[str, str]: ...
    def feature_set(self, version: str) -> str | None: ...
    def load_version(self, version: str) -> FraudModel: ...
    def set_alias(self, alias: str, version: str) -> None: ...
    def tag_version(self, version: str, tags: dict[str, str]) -> None: ...


@dataclass(frozen=True)
class GateDecision:
    """What the gate decided, why, and the metrics of both models on the same rows."""

    promote: bool
    reason: str
    candidate_version: str
    min_gain: float
    rows: int
    candidate: dict[str, float] = field(default_factory=dict)
    champion: dict[str, float] | None = None
    champion_version: str | None = None

    def tags(self) -> dict[str, str]:
        """Registry tags that record the decision on the candidate version."""
        return {
            "gate_decision": "promoted" if self.promote else "refused",
            "gate_reason": self.reason,
            "gate_min_ap_gain": str(self.min_gain),
            "gate_compared_with": self.champion_version or "none",
            "gate_metrics": json.dumps(
                {"candidate": self.candidate, "champion": self.champion, "rows": self.rows}
            ),
        }

    def metrics(self) -> dict[str, float]:
        """Run metrics: both models' AP, AUC and CP@100 on the candidate's evaluation rows."""
        out = {f"gate_candidate_{name}": value for name, value in self.candidate.items()}
        out.update({f"gate_champion_{name}": value for name, value in (self.champion or {}).items()})
        out["gate_promoted"] = float(self.promote)
        return out


def _metrics(model: FraudModel, rows: pd.DataFrame) -> dict[str, float]:
    return fraud_metrics(rows.assign(score=model.score(rows)))


def decide(candidate: dict[str, float], champion: dict[str, float], min_gain: float) -> tuple[bool, str]:
    """Promote when the candidate's AP beats the champion's by at least ``min_gain`` on the same rows."""
    gain = candidate[GATE_METRIC] - champion[GATE_METRIC]
    verdict = "beats" if gain >= min_gain else "does not beat"
    return gain >= min_gain, (
        f"candidate AP {candidate[GATE_METRIC]:.4f} {verdict} champion AP {champion[GATE_METRIC]:.4f} "
        f"on the same rows by the required {min_gain:.4f} (gain {gain:+.4f})"
    )


def run_gate(
    registry: Registry, version: str, rows: pd.DataFrame, feature_set: str, min_gain: float
) -> GateDecision:
    """Compare ``version`` with the champion on ``rows`` (the candidate's evaluation rows) and
    move the champion alias to it if it wins; the decision is tagged on the version."""
    with registry.exclusive(f"promotion gate of version {version}"):
        champion_version = registry.aliases().get(CHAMPION)
        candidate = _metrics(registry.load_version(version), rows)
        base = {"candidate_version": version, "min_gain": min_gain, "rows": len(rows), "candidate": candidate}
        if champion_version is None:
            decision = GateDecision(
                True, f"no champion yet; candidate AP {candidate[GATE_METRIC]:.4f}", **base
            )
        elif champion_version == version:
            decision = GateDecision(False, f"version {version} is already the champion", **base)
        else:
            decision = _against_champion(registry, champion_version, rows, feature_set, min_gain, base)
        if decision.promote and not registry.still_exclusive():
            decision = GateDecision(
                False,
                "the gate's registry lock was broken while it compared (it took too long); nothing "
                "promoted, run the gate again",
                **{**base, "champion": decision.champion, "champion_version": champion_version},
            )
        if decision.promote:
            current = registry.aliases().get(CHAMPION)
            if current != champion_version:
                decision = GateDecision(
                    False,
                    f"champion moved from {champion_version} to {current} while the gate compared "
                    "(outside the gate's lock); nothing promoted, run the gate again",
                    **{**base, "champion": decision.champion, "champion_version": champion_version},
                )
            else:
                registry.set_alias(CHAMPION, version)
        registry.tag_version(version, decision.tags())
    return decision


def _against_champion(
    registry: Registry,
    champion_version: str,
    rows: pd.DataFrame,
    feature_set: str,
    min_gain: float,
    base: dict,
) -> GateDecision:
    champion_set = registry.feature_set(champion_version)
    if champion_set != feature_set:
        return GateDecision(
            False,
            f"champion v{champion_version} was trained on feature set {champion_set or 'unrecorded'}, "
            f"the candidate on {feature_set}: not comparable, promote by hand if intended",
            champion_version=champion_version,
            **base,
        )
    try:
        champion = _metrics(registry.load_version(champion_version), rows)
    except Exception as error:  # any failure to load or score the champion refuses, never promotes
        return GateDecision(
            False,
            f"champion v{champion_version} could not be loaded or scored: {type(error).__name__}: {error}",
            champion_version=champion_version,
            **base,
        )
    promote, reason = decide(base["candidate"], champion, min_gain)
    return GateDecision(promote, reason, champion=champion, champion_version=champion_version, **base)
