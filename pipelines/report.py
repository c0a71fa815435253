"""Print the registry's champion and latest version beside the handbook's published results."""

from __future__ import annotations

from fraudcore.registry import CHALLENGER, CHAMPION, ModelRegistry

#: Published results on the same protocol (Fraud Detection Handbook, see ../shared/data/README.md).
HANDBOOK = [
    ("handbook: logistic regression", 0.871, 0.606, 0.291),
    ("handbook: random forest", 0.867, 0.658, 0.287),
    ("handbook: XGBoost", 0.862, 0.639, 0.273),
    ("handbook: best tuned (XGBoost / NN)", 0.878, 0.694, 0.304),
]
COLUMNS = ("auc_roc", "average_precision", "card_precision_at_100")


def evaluation_table(registry: ModelRegistry | None = None) -> str:
    registry = registry or ModelRegistry()
    rows, shown = [], set()
    for alias in (CHAMPION, CHALLENGER):
        version = registry.version_by_alias(alias)
        if version is None or version.version in shown:
            continue
        shown.add(version.version)
        run = registry.client.get_run(version.run_id)
        model_type = run.data.params.get("model_type", "?")
        values = [run.data.metrics.get(column, float("nan")) for column in COLUMNS]
        decision = version.tags.get("gate_decision", "")
        rows.append((f"{alias}: v{version.version} {model_type} {decision}".strip(), *values))
    lines = [f"{'model':<44} {'AUC ROC':>8} {'AP':>8} {'CP@100':>8}"]
    lines += [f"{name:<44} {auc:>8.4f} {ap:>8.4f} {cp:>8.4f}" for name, auc, ap, cp in rows + HANDBOOK]
    return "\n".join(lines)


if __name__ == "__main__":
    print(evaluation_table())
