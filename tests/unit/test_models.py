"""Model classes: fit, score, pyfunc interface, and a real signal on simulated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from fraudcore.models import MODEL_TYPES, FraudModel, model_class
from fraudcore.models.torch_mlp import TorchFraudModel


@pytest.fixture(scope="module")
def feature_rows() -> pd.DataFrame:
    """Rows with the model's columns where fraud depends on the amount ratio and terminal risk."""
    rng = np.random.default_rng(0)
    features = FraudModel().features
    frame = pd.DataFrame(rng.normal(size=(4000, len(features))), columns=features)
    signal = 2.5 * frame["amount_over_customer_mean_7d"] + 2.0 * frame["terminal_risk_7d"]
    frame["TX_FRAUD"] = (signal + rng.normal(size=len(frame)) > 4.5).astype("int8")
    return frame


@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_models_learn_the_signal_and_answer_as_pyfunc(feature_rows, model_type):
    params = {"epochs": 20, "batch_size": 128} if model_type == "torch" else {"n_estimators": 60}
    train, test = feature_rows.iloc[:3000], feature_rows.iloc[3000:]
    model = model_class(model_type)(params).fit(train)
    scores = model.score(test)
    assert scores.shape == (len(test),) and ((scores >= 0) & (scores <= 1)).all()
    assert roc_auc_score(test["TX_FRAUD"], scores) > 0.85
    answer = model.predict(None, test.drop(columns="TX_FRAUD").iloc[:3])
    assert list(answer.columns) == ["fraud_probability"] and len(answer) == 3


def test_missing_feature_is_a_clear_error(feature_rows):
    model = model_class("lightgbm")({"n_estimators": 5}).fit(feature_rows)
    with pytest.raises(ValueError, match=r"missing model features: \['terminal_risk_1d'\]"):
        model.score(feature_rows.drop(columns="terminal_risk_1d"))


def test_torch_trains_on_the_available_device(feature_rows):
    model = TorchFraudModel({"epochs": 1}).fit(feature_rows)
    assert model.training_device in {"cpu", "cuda"}
    assert next(model.network.parameters()).device.type == "cpu"  # scored on the CPU after training


def test_compiled_trees_score_as_the_booster_and_are_cached(feature_rows, tmp_path):
    import pickle
    import time

    model = model_class("lightgbm")({"n_estimators": 40}).fit(feature_rows)
    expected = model.score(feature_rows)
    started = time.monotonic()
    assert model.compile(tmp_path)
    first = time.monotonic() - started
    np.testing.assert_allclose(model.score(feature_rows), expected, rtol=0, atol=1e-12)
    assert len(list(tmp_path.glob("*.so"))) == 1 and not list(tmp_path.glob("*.partial"))
    copy = pickle.loads(pickle.dumps(model))
    assert not hasattr(copy, "compiled")  # a native library is never pickled with the model
    started = time.monotonic()
    assert copy.compile(tmp_path)  # loaded from the cache, not compiled again
    assert time.monotonic() - started < first
    np.testing.assert_allclose(copy.score(feature_rows.iloc[:1]), expected[:1], rtol=0, atol=1e-12)
    assert model_class("torch")().compile(tmp_path) is False  # nothing to compile: scores as it did
