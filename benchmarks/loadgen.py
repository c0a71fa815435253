"""Open-loop HTTP load: ``python -m benchmarks.loadgen --url U --rate R --duration S --requests FILE``.

Request i is sent at start + i / rate whether or not earlier ones have answered, and its latency
is counted from that scheduled moment (so a stalled server's queueing shows: no coordinated
omission). The first ``--warmup`` seconds run on the same schedule but are reported apart (the
client opens its connections then). Prints one JSON line: latency percentiles (ms) of the
measured period, achieved rate, errors.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time

import aiohttp
import numpy as np

from fraudcore.gc_pauses import freeze_long_lived

SPIN_S = 0.0015


async def run(url: str, rate: float, duration: float, bodies: list[str], warmup: float = 0.0) -> dict:
    warm = int(rate * warmup)
    count = warm + int(rate * duration)
    latencies = np.full(count, np.nan)
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(
        connector=connector, headers={"content-type": "application/json"}
    ) as session:

        async def one(i: int, scheduled: float) -> None:
            status = -1  # no answer
            try:
                async with session.post(url, data=bodies[i % len(bodies)]) as response:
                    await response.read()
                    status = response.status
                    if status == 200:
                        latencies[i] = time.perf_counter() - scheduled
            except aiohttp.ClientError:
                pass
            if i >= warm:
                statuses[status] = statuses.get(status, 0) + 1

        tasks = []
        lateness = np.zeros(count)
        start = time.perf_counter() + 0.2
        for i in range(count):
            scheduled = start + i / rate
            # The event loop's timers wake up to a millisecond late (epoll counts in ms): sleep to
            # just before the moment, then yield until it comes.
            if (delay := scheduled - time.perf_counter() - SPIN_S) > 0:
                await asyncio.sleep(delay)
            while time.perf_counter() < scheduled:
                await asyncio.sleep(0)
            lateness[i] = time.perf_counter() - scheduled
            tasks.append(asyncio.create_task(one(i, scheduled)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    warmup_ok = latencies[:warm][~np.isnan(latencies[:warm])] * 1e3
    latencies = latencies[warm:]
    ok = latencies[~np.isnan(latencies)] * 1e3
    elapsed -= warm / rate
    return {
        "offered_rps": rate,
        "requests": count - warm,
        "ok": len(ok),
        "statuses": {str(k): v for k, v in statuses.items()},
        "achieved_rps": round(len(ok) / elapsed, 1),
        **{f"p{q}_ms": round(float(np.percentile(ok, q)), 3) if len(ok) else None for q in (50, 95, 99)},
        "max_ms": round(float(ok.max()), 3) if len(ok) else None,
        "send_lateness_p99_ms": round(float(np.percentile(lateness, 99)) * 1e3, 3),
        "warmup_s": warmup,
        "warmup_max_ms": round(float(warmup_ok.max()), 3) if len(warmup_ok) else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--requests", required=True, help="file with one JSON body per line")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds sent first, reported apart")
    args = parser.parse_args()
    with open(args.requests) as source:
        bodies = [line.strip() for line in source if line.strip()]
    # No cyclic GC in the client while it measures: a full collection over the thousands of tasks
    # it keeps stalled its event loop for ~40 ms at a fixed point of every run (counted as the
    # service's latency); a run's garbage is a few hundred MB at most.
    freeze_long_lived()
    gc.disable()
    print(json.dumps(asyncio.run(run(args.url, args.rate, args.duration, bodies, args.warmup))))


if __name__ == "__main__":
    main()
