"""The ``steer-trio`` command.

Exit codes (for scripts): 0 success; 1 the provider or the stream failed (the partial
text is still printed); 2 bad command line; 3 configuration (unknown model, missing
key); 130 interrupted by Ctrl-C; 141 stdout was closed early (piped into ``head``,
say): the stream is stopped and its connection closed, quietly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import trio

EXIT_OK = 0
EXIT_STREAM_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports it

_KEY_DEFAULTS = (
    ("OPENAI_API_KEY", "gpt-4o-mini"),
    ("ANTHROPIC_API_KEY", "claude-haiku-4-5"),
    ("XAI_API_KEY", "grok-3-mini"),
)
LOCAL_MODEL = "local/steer-story"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steer-trio",
        description="Stream answers from LLM providers with trio.",
        epilog=(
            "examples:\n"
            '  steer-trio stream "Tell me a story"            # built-in local provider if no key\n'
            '  steer-trio stream "Hi" -m gpt-4o-mini           # needs OPENAI_API_KEY\n'
            '  steer-trio stream "Hi" -m claude-haiku-4-5 --json\n'
            '  steer-trio stream "Hi" -m openai_compatible/llama3 '
            "--base-url http://localhost:11434/v1\n"
            "  steer-trio models                               # known models and prices\n"
            "  steer-trio fake-server --port 8080              # the fake provider, standalone\n\n"
            "exit codes: 0 ok, 1 provider/stream error, 2 bad usage, 3 configuration, "
            "130 interrupted"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    stream = sub.add_parser(
        "stream",
        help="stream one answer to stdout",
        description=(
            "Stream the answer to stdout as it arrives; usage and cost go to stderr at the "
            "end. With no -m and no provider key in the environment, the built-in local "
            "provider answers (it says so on stderr)."
        ),
    )
    stream.add_argument("prompt", help="the prompt text")
    stream.add_argument(
        "-m",
        "--model",
        help="model name (gpt-*, o3*, claude-*, grok-*, or provider/model); default: "
        "a small model of the first provider with a key, else the local provider",
    )
    stream.add_argument("--provider", help="force a provider (openai, anthropic, xai, ...)")
    stream.add_argument("--base-url", help="base URL for the provider (e.g. a vLLM server)")
    stream.add_argument("--system", help="a system prompt")
    stream.add_argument("--max-tokens", type=int, help="cap on generated tokens")
    stream.add_argument("--temperature", type=float)
    stream.add_argument(
        "--json", action="store_true", help="print one JSON result at the end instead of text"
    )
    stream.add_argument("--local", action="store_true", help="use the built-in local provider")
    sub.add_parser("models", help="list known models with their prices (USD per 1M tokens)")
    from ._cli_batch import add_batch_parser

    add_batch_parser(sub)
    fake = sub.add_parser("fake-server", help="run the fake provider server")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "fake-server":
        from .testing.__main__ import main as fake_main

        return fake_main(["--host", args.host, "--port", str(args.port)])
    if args.command == "batch":
        from ._cli_batch import main as batch_main

        try:
            return batch_main(args)
        except KeyboardInterrupt:
            print("\n[interrupted]: rerun the same command to resume", file=sys.stderr)
            return EXIT_INTERRUPTED
    try:
        if args.command == "models":
            return _models()
        return trio.run(_stream, args)
    except KeyboardInterrupt:
        print("\n[interrupted]", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away. The stream was already stopped (the error left the
        # `async for`, which closed the connection); make the interpreter's own final
        # flush of stdout quiet too, as the Python docs advise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _models() -> int:
    from ._processing._pricing import default_price_table

    table = default_price_table()
    print(f"{'model':<34} {'input':>8} {'cached':>8} {'write':>8} {'output':>8}  as of")
    for name, price in table.models():
        cached = "-" if price.cached_input is None else f"{price.cached_input:g}"
        write = "-" if price.cache_write is None else f"{price.cache_write:g}"
        print(
            f"{name:<34} {price.input:>8g} {cached:>8} {write:>8} {price.output:>8g}  {price.as_of}"
        )
    return EXIT_OK


def _pick_model(args: argparse.Namespace) -> str | None:
    """The model to use, or None for the built-in local provider."""
    if args.local:
        return None
    if args.model:
        return str(args.model)
    if args.base_url or args.provider:
        raise SystemExit("steer-trio: -m MODEL is required with --base-url/--provider")
    for env_name, model in _KEY_DEFAULTS:
        if os.environ.get(env_name):
            return model
    return None


async def _stream(args: argparse.Namespace) -> int:
    from . import ConfigurationError, SteerClient, SteerError
    from .testing import open_fake_provider

    model = _pick_model(args)
    params: dict[str, Any] = {}
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if args.system:
        params["system"] = args.system

    async def run(client: SteerClient, model: str) -> int:
        text_out = not args.json
        stream = None
        try:
            stream = client.stream(args.prompt, model, provider=args.provider, **params)
            async for chunk in stream:
                if text_out:
                    sys.stdout.write(chunk)
                    sys.stdout.flush()
        except ConfigurationError as exc:
            print(f"steer-trio: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        except SteerError as exc:
            if text_out:
                print(file=sys.stdout)
            print(f"steer-trio: {type(exc).__name__}: {exc}", file=sys.stderr)
            _report(stream.response if stream is not None else exc.partial, args.json)
            return EXIT_STREAM_FAILED
        if text_out:
            print(file=sys.stdout)
        _report(stream.response, args.json)
        return EXIT_OK

    if model is not None:
        async with SteerClient(base_url=args.base_url, provider=args.provider) as client:
            return await run(client, model)
    print(
        "steer-trio: no provider API key found (OPENAI_API_KEY, ANTHROPIC_API_KEY, "
        "XAI_API_KEY): using the built-in local provider, a fake that writes a demo story.",
        file=sys.stderr,
    )
    async with (
        open_fake_provider(story_delay=0.02) as server,
        SteerClient(base_urls={"local": server.openai_base_url}) as client,
    ):
        return await run(client, LOCAL_MODEL)


def _report(response: Any, as_json: bool) -> None:
    if response is None:
        return
    if as_json:
        print(
            json.dumps(
                {
                    "text": response.get_text(),
                    "model": response.model,
                    "provider": response.provider,
                    "finish_reason": response.finish_reason,
                    "usage": response.usage,
                    "cost_usd": response.cost_usd,
                    "cost_reason": response.cost_reason,
                    "is_partial": response.is_partial,
                },
                indent=2,
            )
        )
        return
    usage = response.usage
    if usage is not None:
        mark = " (estimated)" if usage.get("is_estimated") else ""
        print(
            f"[usage{mark}] prompt {usage['prompt_tokens']} + completion "
            f"{usage['completion_tokens']} = {usage['total_tokens']} tokens",
            file=sys.stderr,
        )
    if response.cost_usd is not None:
        print(f"[cost] ${response.cost_usd:.6f}", file=sys.stderr)
    elif response.cost_reason:
        print(f"[cost] unknown: {response.cost_reason}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
