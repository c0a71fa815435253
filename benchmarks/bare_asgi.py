"""The HTTP floor of ``make bench-realtime``: an ASGI app that answers every request with the same
prediction-sized JSON body, with no framework, scoring or metrics.

Served by uvicorn with the service's worker count, event loop (uvloop) and HTTP parser
(httptools), and loaded by the same client at the same rates, it measures what loopback HTTP
and the load generator cost on their own: ``uvicorn benchmarks.bare_asgi:app``.
"""

from __future__ import annotations

from serving.schemas import Prediction

#: The size and shape of a real answer.
BODY = (
    Prediction(
        transaction_id=100_000_000_000_000,
        fraud_probability=0.0123,
        decision="genuine",
        threshold=0.5,
        model_name="fraud-detector",
        model_version="1",
        new_customer=False,
        new_terminal=False,
        customer_state_age_seconds=3600.0,
        terminal_state_age_seconds=3600.0,
    )
    .model_dump_json()
    .encode()
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send) -> None:
    """Read the request's body, answer ``BODY``."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
