"""The stream consumer's incremental state gives the features computed from all raw events at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudcore.data.generator import GeneratorConfig, generate_transactions
from fraudcore.events import Label, Transaction
from fraudcore.features.compute import model_features
from fraudcore.features.definitions import MODEL_FEATURES
from fraudcore.features.terminal import DELAY_US
from fraudcore.features.windows import to_us
from streaming.producer import replay_order
from streaming.state import StreamState


@pytest.fixture(scope="module")
def seven_weeks() -> pd.DataFrame:
    """Longer than every window plus the label delay, so labels and pruning both matter."""
    return generate_transactions(
        GeneratorConfig(n_customers=150, n_terminals=250, n_days=50, seed=5), progress=False
    )


def test_micro_batches_with_early_labels_match_the_offline_features(seven_weeks):
    tx = seven_weeks
    times = to_us(tx["TX_DATETIME"])
    rows, is_label = replay_order(tx)
    rng = np.random.default_rng(3)
    state = StreamState()
    pending: list[int] = []
    scored: dict[int, dict[str, float]] = {}
    labels_read = 0  # position in the event order up to which labels were applied

    def label_of(row: int) -> Label:
        return Label(
            int(tx["TRANSACTION_ID"].iat[row]),
            int(times[row]),
            int(tx["TERMINAL_ID"].iat[row]),
            int(tx["TX_FRAUD"].iat[row]),
        )

    def score(batch_rows: list[int], position: int) -> None:
        nonlocal labels_read
        # Every label up to the batch's last event, and some that arrive early (up to 300 events on).
        ahead = min(len(rows), position + 1 + int(rng.integers(0, 300)))
        state.add_labels(
            [
                label_of(r)
                for r, lab in zip(rows[labels_read:ahead], is_label[labels_read:ahead], strict=True)
                if lab
            ]
        )
        labels_read = max(labels_read, ahead)
        batch = [
            Transaction(
                int(tx["TRANSACTION_ID"].iat[r]),
                int(times[r]),
                int(tx["CUSTOMER_ID"].iat[r]),
                int(tx["TERMINAL_ID"].iat[r]),
                float(tx["TX_AMOUNT"].iat[r]),
            )
            for r in batch_rows
        ]
        state.add_transactions(batch)
        features = state.features(batch)
        for i, r in enumerate(batch_rows):
            scored[r] = {name: features[name][i] for name in MODEL_FEATURES}
        state.prune(batch)

    size = int(rng.integers(1, 400))
    for position, (row, label) in enumerate(zip(rows.tolist(), is_label.tolist(), strict=True)):
        if label:
            continue
        pending.append(row)
        if len(pending) >= size:
            score(pending, position)
            pending, size = [], int(rng.integers(1, 400))
    if pending:
        score(pending, len(rows) - 1)

    expected = model_features(tx, tx)
    got = pd.DataFrame.from_dict(scored, orient="index").sort_index()[MODEL_FEATURES]
    assert len(got) == len(tx)
    np.testing.assert_allclose(got.to_numpy(np.float64), expected.to_numpy(np.float64), rtol=1e-9, atol=1e-9)
    # Terminal features were really exercised (labels known), and the state was pruned.
    assert (expected["terminal_risk_30d"] > 0).any()
    state.prune_all(int(times.max()))
    oldest = min(t[0] for t in state.customers.times.values())
    assert oldest > times.max() - 31 * 86_400 * 10**6
    assert min(t[0] for t in state.terminals.times.values()) > times.max() - 38 * 86_400 * 10**6 - DELAY_US
