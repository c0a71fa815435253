"""The lean ``/predict`` route: the service's contract without BentoML's request path (a fake scorer)."""

from __future__ import annotations

import asyncio
import json

import pytest

from serving.predict_route import LeanPredictRoute
from serving.schemas import Prediction
from serving.scoring import ModelUnavailable

GOOD = {
    "transaction_id": 1,
    "customer_id": 2,
    "terminal_id": 3,
    "amount": 4.5,
    "timestamp": "2018-08-01T10:00:00",
}


class FakeScorer:
    def __init__(self, fail: bool = False, broken: bool = False):
        self.fail, self.broken, self.seen = fail, broken, []

    def score(self, requests):
        if self.fail:
            raise ModelUnavailable("no champion model is loaded yet")
        if self.broken:
            raise OSError("online store unreachable")
        self.seen.extend(requests)
        return [
            Prediction(
                transaction_id=r.transaction_id,
                fraud_probability=0.25,
                decision="genuine",
                threshold=0.5,
                model_name="m",
                model_version="7",
                new_customer=True,
                new_terminal=False,
                customer_state_age_seconds=None,
                terminal_state_age_seconds=12.0,
            )
            for r in requests
        ]


async def _inner_app(scope, receive, send):  # what BentoML would answer
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"bentoml"})


def _call(
    scorer, body: bytes, path: str = "/predict", method: str = "POST", disconnect: bool = False
) -> tuple[int | None, bytes]:
    LeanPredictRoute.scorer = scorer
    sent: list[dict] = []
    chunks = [body[:5], body[5:]]

    async def receive():
        if disconnect and len(chunks) == 1:
            return {"type": "http.disconnect"}
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "method": method}
    try:
        asyncio.run(LeanPredictRoute(_inner_app)(scope, receive, send))
    finally:
        LeanPredictRoute.scorer = None
    if not sent:
        return None, b""
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_valid_request_is_scored_and_answered_as_the_prediction_model():
    scorer = FakeScorer()
    status, body = _call(scorer, json.dumps(GOOD).encode())
    assert status == 200
    assert Prediction.model_validate_json(body).terminal_state_age_seconds == 12.0
    assert scorer.seen[0].amount == 4.5 and scorer.seen[0].timestamp.isoformat() == "2018-08-01T10:00:00"


@pytest.mark.parametrize(
    ("body", "field"),
    [(b"{not json", None), (json.dumps({**GOOD, "amount": -1}).encode(), "amount"), (b"{}", "customer_id")],
)
def test_a_bad_request_gets_bentoml_s_400_naming_the_field(body, field):
    status, answer = _call(FakeScorer(), body)
    assert status == 400
    answer = json.loads(answer)
    assert answer["error"].endswith("validation error for TransactionRequest")
    locations = [entry["loc"][-1] if entry["loc"] else None for entry in answer["detail"]]
    assert field in locations


def test_no_champion_is_a_503_with_the_reason():
    status, answer = _call(FakeScorer(fail=True), json.dumps(GOOD).encode())
    assert status == 503 and "no champion" in json.loads(answer)["error"]


@pytest.mark.parametrize(
    ("path", "method", "scorer"),
    [("/predict_batch", "POST", FakeScorer()), ("/predict", "GET", FakeScorer()), ("/predict", "POST", None)],
)
def test_other_paths_methods_and_a_service_not_started_go_to_bentoml(path, method, scorer):
    assert _call(scorer, json.dumps(GOOD).encode(), path, method) == (299, b"bentoml")


def test_an_unexpected_failure_is_bentoml_s_json_500_and_a_disconnect_gets_no_answer():
    status, answer = _call(FakeScorer(broken=True), json.dumps(GOOD).encode())
    assert status == 500 and "unexpected error" in json.loads(answer)["error"]
    scorer = FakeScorer()
    assert _call(scorer, json.dumps(GOOD).encode(), disconnect=True) == (None, b"")
    assert scorer.seen == []
