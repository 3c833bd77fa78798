"""``python -m steer_trio.testing``: run the fake provider until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from ._server import open_fake_provider


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="steer-trio fake-server", description="Run the fake LLM provider server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--story-delay", type=float, default=0.0, help="seconds between words of the story"
    )
    args = parser.parse_args(argv)

    async def serve() -> None:
        async with open_fake_provider(
            host=args.host, port=args.port, story_delay=args.story_delay
        ) as server:
            print(f"listening on {server.base_url}", flush=True)
            print(
                f"  OPENAI_BASE_URL={server.openai_base_url}  "
                f"ANTHROPIC_BASE_URL={server.anthropic_base_url}  "
                f"XAI_BASE_URL={server.xai_base_url}  GEMINI_BASE_URL={server.gemini_base_url}",
                file=sys.stderr,
                flush=True,
            )
            await trio.sleep_forever()

    try:
        trio.run(serve)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
