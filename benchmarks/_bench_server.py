"""The fake provider with the benchmark's scenarios, in its own process.

Run by bench_streaming.py; prints `listening on URL` once ready."""

from __future__ import annotations

import sys

import trio

from steer_trio.testing import Scenario, open_fake_provider

SCENARIOS = {
    # 20,000 deltas at full speed, one HTTP chunk per event (as real providers send).
    "bench-20k": Scenario(
        text=[f"w{i} " for i in range(20_000)], prompt_tokens=20, completion_tokens=20_000
    ),
    # 500 deltas, 2 ms apart: for 200 concurrent streams.
    "bench-500": Scenario(
        text=[f"w{i} " for i in range(500)], delay=0.002, prompt_tokens=20, completion_tokens=500
    ),
    # Time to first delta.
    "bench-ttft": Scenario(text=["first", " second"], prompt_tokens=5, completion_tokens=2),
    # A stream without usage, for local tiktoken counting.
    "gpt-4-nousage": Scenario(text=[f"word{i} " for i in range(20_000)], send_usage=False),
}


async def main() -> None:
    async with open_fake_provider() as server:
        for model, scenario in SCENARIOS.items():
            server.route(model, scenario)
        print(f"listening on {server.base_url}", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    try:
        trio.run(main)
    except KeyboardInterrupt:
        sys.exit(0)
