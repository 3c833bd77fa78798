"""``python -m steer_trio.testing`` (and ``steer-trio fake-server``): run the fake
provider until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from ._server import open_fake_provider

DESCRIPTION = (
    "Run the fake LLM provider: a real HTTP server on 127.0.0.1 that speaks OpenAI Chat "
    "Completions, Anthropic Messages and xAI, and answers every prompt with a short "
    "story (a JSON object in JSON mode, a tool call when one is required). Point a "
    "client at the printed base URLs; no key is checked. Runs until Ctrl-C."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the fake provider's command, shared by both ways to run it."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    parser.add_argument(
        "--story-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds between the words of the story (default 0: as fast as possible)",
    )


def serve(args: argparse.Namespace) -> int:
    """Run the server the parsed options describe; prints the base URLs, then waits."""

    async def run() -> None:
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
        trio.run(run)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m steer_trio.testing [--host H] [--port N] [--story-delay S]``."""
    parser = argparse.ArgumentParser(prog="python -m steer_trio.testing", description=DESCRIPTION)
    add_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
