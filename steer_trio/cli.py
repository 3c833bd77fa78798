"""The ``steer-trio`` command.

Exit codes (for scripts): 0 success; 1 the provider or the stream failed (the partial
text is still printed); 2 bad command line; 3 configuration (unknown model, missing
key); 130 interrupted by Ctrl-C; 141 stdout was closed early (piped into ``head``,
say): the stream is stopped and its connection closed, quietly.

Text a server wrote reaches the terminal only through :func:`terminal_safe`: error
messages always, the streamed answer when stdout is a terminal. Piped or redirected,
the answer is written exactly as it arrived.

Each subcommand is one ``register`` function in :data:`SUBCOMMANDS`: it adds its
parser to the subparsers and sets ``run``, a function from the parsed arguments to an
exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
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
    ("GEMINI_API_KEY", "gemini-2.5-flash"),
    ("GOOGLE_API_KEY", "gemini-2.5-flash"),
)
LOCAL_MODEL = "local/steer-story"
#: Seconds between the local demo's words: slow enough to watch it stream.
LOCAL_STORY_DELAY = 0.02

#: Escape sequences as whole units (so their parameters do not stay behind as
#: visible debris): CSI (ESC [ or the 8-bit CSI), OSC (ESC ] or 8-bit OSC, ended by
#: BEL or ST, or cut off by the end of the text), DCS/SOS/PM/APC strings, and the
#: two-character ESC sequences. Then every C0 and C1 control but newline and tab.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` without terminal control: no escape sequence (cursor moves, colours,
    window titles, clipboard writes) and no C0/C1 control character but ``\\n`` and
    ``\\t`` (a ``\\r`` or a backspace could hide what came before it)."""
    if text.isprintable():  # the common case: nothing to remove
        return text
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


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
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in SUBCOMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Said by the subcommand's parser, so the usage shown is the subcommand's.
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.run(args))
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


# -- stream ---------------------------------------------------------------------------


def _register_stream(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stream = sub.add_parser(
        "stream",
        help="stream one answer to stdout",
        description=(
            "Stream the answer to stdout as it arrives; usage and cost go to stderr at the "
            "end. With no -m and no provider key in the environment, the built-in local "
            "provider answers (it says so on stderr). On a terminal, control characters "
            "and escape sequences a server sent are removed before printing; piped or "
            "redirected, the answer is written exactly as it arrived."
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
        "--json",
        action="store_true",
        help="print one JSON result at the end instead of text (with an 'error' "
        "field when the request failed)",
    )
    stream.add_argument(
        "--local",
        action="store_true",
        help="use the built-in local provider (free, no key); with -m, it answers as that "
        "model's provider would (e.g. -m gemini-2.5-flash speaks Gemini's format)",
    )
    stream.add_argument(
        "--api",
        choices=("chat", "responses"),
        help="OpenAI's API for OpenAI-format providers: chat (Chat Completions) or "
        "responses (the Responses API); default: chat, except for Responses-only models",
    )
    stream.set_defaults(run=_run_stream, parser=stream)


def _run_stream(args: argparse.Namespace) -> int:
    if not args.prompt.strip():
        args.parser.error("the prompt is empty: give the text to send")
    if args.max_tokens is not None and args.max_tokens <= 0:
        args.parser.error(f"--max-tokens must be a positive number, got {args.max_tokens}")
    if args.local and (args.base_url or args.provider):
        args.parser.error("--local takes no --base-url or --provider")
    model = args.model
    if not args.local and model is None:
        if args.base_url or args.provider:
            args.parser.error("-m MODEL is required with --base-url/--provider")
        model = next((m for name, m in _KEY_DEFAULTS if os.environ.get(name)), None)
        if model is None:
            print(
                "steer-trio: no provider API key found (OPENAI_API_KEY, ANTHROPIC_API_KEY, "
                "XAI_API_KEY, GEMINI_API_KEY): using the built-in local provider, a fake that "
                "writes a demo story.",
                file=sys.stderr,
            )
    to_terminal = sys.stdout.isatty()
    return trio.run(_stream, args, model, to_terminal)


async def _stream(args: argparse.Namespace, model: str | None, to_terminal: bool) -> int:
    """Stream with ``model``, or with the built-in local provider when it is None."""
    from . import SteerClient
    from .testing import open_fake_provider

    if model is not None and not args.local:
        async with SteerClient(base_url=args.base_url, provider=args.provider) as client:
            return await _stream_one(client, model, args, to_terminal)
    async with open_fake_provider(story_delay=LOCAL_STORY_DELAY) as server:
        urls = {"local": server.openai_base_url}
        if args.model:
            # Every provider answered by the fake, each in its own wire format.
            urls.update(
                openai=server.openai_base_url,
                anthropic=server.anthropic_base_url,
                xai=server.xai_base_url,
                gemini=server.gemini_base_url,
            )
        keys = dict.fromkeys(urls, "local-fake-key")
        async with SteerClient(base_urls=urls, api_keys=keys) as client:
            return await _stream_one(client, args.model or LOCAL_MODEL, args, to_terminal)


async def _stream_one(client: Any, model: str, args: argparse.Namespace, to_terminal: bool) -> int:
    from . import ConfigurationError, SteerError

    await trio.lowlevel.checkpoint()  # bad input raises before the stream's first await
    params: dict[str, Any] = {}
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if args.system:
        params["system"] = args.system
    text_out = not args.json
    clean = terminal_safe if to_terminal else str
    stream = None
    try:
        if args.api:
            params["api"] = args.api
        stream = client.stream(args.prompt, model, provider=args.provider, **params)
        async for chunk in stream:
            if text_out:
                sys.stdout.write(clean(chunk))
                sys.stdout.flush()
    except ConfigurationError as exc:
        _say_error(exc, None, args.json)
        return EXIT_CONFIG
    except SteerError as exc:
        if text_out:
            print(file=sys.stdout)
        response = stream.response if stream is not None and stream.ended else exc.partial
        _say_error(exc, response, args.json)
        if not args.json:
            _report(response)
        return EXIT_STREAM_FAILED
    if text_out:
        print(file=sys.stdout)
        _report(stream.response)
    else:
        _print_json(stream.response, None)
    return EXIT_OK


def _say_error(exc: BaseException, response: Any, as_json: bool) -> None:
    if as_json:
        _print_json(response, exc)
    else:
        print(f"steer-trio: {type(exc).__name__}: {terminal_safe(str(exc))}", file=sys.stderr)


def _is_local(response: Any) -> bool:
    return getattr(response, "provider", None) == "local"


def _print_json(response: Any, error: BaseException | None) -> None:
    """One JSON result; ``json.dumps`` escapes every control character itself."""
    result: dict[str, Any] = {}
    if response is not None:
        local = _is_local(response)
        result.update(
            text=response.get_text(),
            model=response.model,
            provider=response.provider,
            finish_reason=response.finish_reason,
            usage=response.usage,
            cost_usd=0.0 if local else response.cost_usd,
            cost_reason="local provider: free" if local else response.cost_reason,
            is_partial=response.is_partial,
        )
    if error is not None:
        result["error"] = {
            "type": type(error).__name__,
            "message": str(error),
            "partial_text": response.get_text() if response is not None else "",
        }
    print(json.dumps(result, indent=2))


def _report(response: Any) -> None:
    """Usage and cost, on stderr."""
    if response is None:
        return
    usage = response.usage
    if usage is not None:
        mark = " (estimated)" if usage.get("is_estimated") else ""
        print(
            f"[usage{mark}] prompt {usage['prompt_tokens']} + completion "
            f"{usage['completion_tokens']} = {usage['total_tokens']} tokens",
            file=sys.stderr,
        )
    if response.finish_reason == "length":
        print("[stopped] the answer reached its token limit (--max-tokens)", file=sys.stderr)
    if _is_local(response):
        print("[cost] $0 (local provider)", file=sys.stderr)
    elif response.cost_usd is not None:
        print(f"[cost] ${response.cost_usd:.6f}", file=sys.stderr)
    elif response.cost_reason:
        # The reason names the model, as the server echoed it.
        print(f"[cost] unknown: {terminal_safe(response.cost_reason)}", file=sys.stderr)


# -- models ---------------------------------------------------------------------------


def _register_models(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser(
        "models",
        help="list known models with their prices (USD per 1M tokens)",
        description="The bundled price table: USD per million tokens, with each price's date.",
    )
    models.set_defaults(run=_run_models, parser=models)


def _run_models(args: argparse.Namespace) -> int:
    from ._processing._pricing import default_price_table

    table = default_price_table()
    print(f"{'model':<34} {'input':>8} {'cached':>8} {'write':>8} {'output':>8}  as of    api")
    for name, price in table.models():
        cached = "-" if price.cached_input is None else f"{price.cached_input:g}"
        write = "-" if price.cache_write is None else f"{price.cache_write:g}"
        print(
            f"{name:<34} {price.input:>8g} {cached:>8} {write:>8} {price.output:>8g}  "
            f"{price.as_of:<8} {_api_of(name)}"
        )
        tier = price.long_context
        if tier is not None:
            label = f"  prompt > {price.long_context_above:,}"
            cached = "-" if tier.cached_input is None else f"{tier.cached_input:g}"
            write = "-" if tier.cache_write is None else f"{tier.cache_write:g}"
            print(
                f"{label:<34} {tier.input:>8g} {cached:>8} {write:>8} {tier.output:>8g}  "
                f"{tier.as_of:<8}"
            )
    return EXIT_OK


def _api_of(model: str) -> str:
    """The wire format a model is served with by default (``-`` if no provider claims it)."""
    from ._errors import SteerError
    from ._providers._routing import route_model, select_api

    try:
        config, wire_model = route_model(model)
    except SteerError:
        return "-"
    return select_api(config, wire_model, None).wire


# -- fake-server ----------------------------------------------------------------------


def _register_fake_server(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .testing.__main__ import DESCRIPTION, add_arguments, serve

    fake = sub.add_parser(
        "fake-server",
        help="run the fake provider server (for tests and demos)",
        description=DESCRIPTION,
    )
    add_arguments(fake)
    fake.set_defaults(run=serve, parser=fake)


#: The subcommands, in the order ``--help`` lists them. A new one is a function that
#: adds its parser to the subparsers and sets ``run`` (and ``parser``) on it.
# -- batch ------------------------------------------------------------------------------


def _pick_model(args: argparse.Namespace) -> str | None:
    """The model to use (``-m``, else the first provider with a key in the environment),
    or None for the built-in local provider."""
    if args.local:
        return None
    if args.model:
        return str(args.model)
    if args.base_url or args.provider:
        args.parser.error("-m MODEL is required with --base-url/--provider")
    for env_name, model in _KEY_DEFAULTS:
        if os.environ.get(env_name):
            return model
    return None


def _register_batch(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ._cli_batch import add_batch_parser

    add_batch_parser(sub)
    parser = sub.choices["batch"]
    parser.set_defaults(run=_run_batch, parser=parser)


def _run_batch(args: argparse.Namespace) -> int:
    from ._cli_batch import main as batch_main

    try:
        return batch_main(args)
    except KeyboardInterrupt:
        print("\n[interrupted]: rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


SUBCOMMANDS: list[Register] = [
    _register_stream,
    _register_batch,
    _register_models,
    _register_fake_server,
]


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
