"""``POST /predict`` answered by a lean ASGI handler inside the BentoML service.

BentoML's generic request path (request context, routing, IO descriptors, response building and
background tasks) costs more CPU than scoring one transaction does, and on two cores that cost is
the latency tail. This middleware answers ``POST /predict`` itself with the same contract as the
``@bentoml.api`` it stands in front of: the same pydantic models and scorer, a 400 in BentoML's
shape (a summary and pydantic's details, whose ``loc`` names the field), a 503 naming the reason
when no champion is loaded, and BentoML's JSON 500 (the exception logged) for anything else. It
reads JSON bodies only (BentoML also takes multipart and its own pickle format). Everything
else (``/predict_batch`` with adaptive batching, health, ``/metrics``, the OpenAPI docs, the
traffic and timeout middlewares it runs inside) stays BentoML's. ``FRAUD_SERVING_LEAN_PREDICT=false``
hands ``/predict`` back to BentoML.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from pydantic_core import to_json

from serving.schemas import TransactionRequest
from serving.scoring import ModelUnavailable, RealtimeScorer

log = logging.getLogger(__name__)
PATH = "/predict"
#: BentoML's answer to an unexpected error (the details go to the log, not to the client).
UNEXPECTED = "An unexpected error has occurred, please check the server log."
JSON_HEADERS = [(b"content-type", b"application/json")]


class LeanPredictRoute:
    """ASGI middleware: ``POST /predict`` scored here once the service set ``scorer``."""

    #: Set by the service instance of this worker when it has started.
    scorer: RealtimeScorer | None = None

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        scorer = LeanPredictRoute.scorer
        if scorer is None or scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        if body is None:  # the client went away before sending it all
            return
        try:
            request = TransactionRequest.model_validate_json(body)
        except ValidationError as error:
            return await _answer(send, 400, _validation_error(error))
        try:
            prediction = scorer.score([request])[0]
        except ModelUnavailable as error:
            return await _answer(send, 503, to_json({"error": str(error)}))
        except Exception:
            log.exception("scoring %s failed", request.transaction_id)
            return await _answer(send, 500, to_json({"error": UNEXPECTED}))
        await _answer(send, 200, prediction.__pydantic_serializer__.to_json(prediction))


def _validation_error(error: ValidationError) -> bytes:
    """BentoML's 400 body for a request that fails validation: a summary and pydantic's details."""
    detail = error.errors(include_context=False, include_input=False, include_url=False)
    return to_json({"error": f"{error.error_count()} validation error for {error.title}", "detail": detail})


async def _read_body(receive) -> bytes | None:
    """The request's body, or None when the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send, status: int, body: bytes) -> None:
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
