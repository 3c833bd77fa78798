"""Where a streamed event's time goes, stage by stage, without a network.

    python benchmarks/bench_breakdown.py [--quick] [--events 20000] [--repeat 5]

The body the benchmark server would send (every wire format; 1 and 20 events per HTTP
chunk) is cut into 64 KiB network reads, and each stage of the client is timed on
its own, in this process (best of ``--repeat``, CPU time per content event):

* ``h11``: h11 turning the reads into ``Data`` events (one per HTTP chunk);
* ``httpcore2``: the body as steer_trio reads a body that is not chunked, h11
  included: ``DirectBody`` over httpcore2's ``_receive_event``, on a fake network
  stream (inside ``trio.run``, whose start is included: small against 20,000 events);
* ``dechunk``: the de-chunker steer_trio reads chunked bodies with
  (``_chunked.ChunkedDecoder``, inside ``BulkBody``) on the same reads;
* ``sse``: steer_trio's ``SSEDecoder.feed`` on each chunk's data;
* ``parse``: the wire parser's ``feed`` on each SSE event (``json`` alone: the JSON
  decoding inside it, measured apart);
* ``pipeline``: ``Pipeline.handle_plain`` on each batch (the response builder, and the
  texts a ``client.stream()`` hands out);
* ``raw lines``: what the raw baseline does after the network: httpx2's text and line
  decoders on each chunk, ``json.loads`` and a content check per line.

Together with ``bench_floor.py`` (the network and httpcore2 around these) this splits
a path's per-event cost into its parts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h11

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_server import render
from _paths import MODEL_OF_FORMAT

from steer_trio._chunked import ChunkedDecoder
from steer_trio._config import StreamingOptions
from steer_trio._pipeline import Callbacks, Pipeline
from steer_trio._providers._base import RequestSpec
from steer_trio._providers._wires import WIRES
from steer_trio._sse import SSEDecoder

WIRE_OF = {
    "openai": ("openai", "openai"),
    "responses": ("openai_responses", "openai"),
    "gemini": ("gemini", "gemini"),
    "anthropic": ("anthropic", "anthropic"),
}
READ = 64 * 1024


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def stages(fmt: str, events: int, per_chunk: int, repeat: int) -> dict[str, float]:
    head, pieces = render(fmt, {"n": str(events), "k": str(per_chunk)}, {"model": "m"})
    wire_name, provider = WIRE_OF[fmt]
    wire = WIRES[wire_name]
    model = MODEL_OF_FORMAT[fmt]
    body = b"".join(pieces)
    reads = [body[i : i + READ] for i in range(0, len(body), READ)]
    response_head = head

    def h11_datas() -> list[bytes]:
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method="POST", target="/", headers=[("host", "x")]))
        conn.receive_data(response_head)
        assert isinstance(conn.next_event(), h11.Response)
        out = []
        for data in reads:
            conn.receive_data(data)
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA or isinstance(event, h11.EndOfMessage):
                    break
                out.append(bytes(event.data))
        return out

    def direct_body() -> list[bytes]:
        """h11 plus httpcore2's machinery, as steer_trio reads a body that is not
        chunked (``DirectBody`` over ``_receive_event``), on a network stream that
        returns the reads at once."""
        import httpcore2
        import trio

        from steer_trio._body import DirectBody

        class Reads:
            def __init__(self) -> None:
                self.items = iter(reads)

            async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - httpcore2 interface
                return next(self.items, b"")

            async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 - httpcore2 interface
                pass

            async def aclose(self) -> None:
                pass

            def get_extra_info(self, info: str) -> Any:
                return None

        async def run() -> list[bytes]:
            origin = httpcore2.Origin(b"http", b"x", 80)
            connection = httpcore2.AsyncHTTP11Connection(origin, Reads())  # type: ignore[arg-type]
            state = connection._h11_state
            state.send(h11.Request(method="POST", target="/", headers=[("host", "x")]))
            state.receive_data(response_head)
            assert isinstance(state.next_event(), h11.Response)
            return [data async for data in DirectBody(connection, None)]

        return trio.run(run)

    def dechunk() -> list[bytes]:
        decoder = ChunkedDecoder()
        return [decoder.feed(data) for data in reads if not decoder.done]

    datas = h11_datas()

    def sse() -> list[list[Any]]:
        decoder = SSEDecoder()
        return [decoder.feed(data) for data in datas]

    batches_sse = sse()
    spec = RequestSpec(provider=provider, model=model, messages=[{"role": "user", "content": "go"}])

    def parse() -> list[list[Any]]:
        parser = wire.make_parser(provider, model, spec)
        batches = []
        for batch in batches_sse:
            out: list[Any] = []
            for event in batch:
                parser.feed(event, out)
            batches.append(out)
        return batches

    batches = parse()
    payloads = [e.data for batch in batches_sse for e in batch if e.data.startswith("{")]

    def json_only() -> None:
        loads = json.loads
        for data in payloads:
            loads(data)

    def pipeline() -> int:
        p = Pipeline(
            provider=provider,
            model=model,
            options=StreamingOptions(),
            callbacks=Callbacks(),
            messages=[],
        )
        texts: list[str] = []
        for batch in batches:
            p.handle_plain(batch, texts)
        return len(texts)

    assert pipeline() == events, pipeline()
    import httpx2._decoders as decoders

    content = {
        "openai": lambda p: (p.get("choices") or [{}])[0].get("delta", {}).get("content"),
        "responses": lambda p: p.get("type") == "response.output_text.delta",
        "gemini": lambda p: p.get("candidates"),
        "anthropic": lambda p: p.get("type") == "content_block_delta",
    }[fmt]

    def raw_lines() -> int:
        text_decoder = decoders.TextDecoder("utf-8")
        line_decoder = decoders.LineDecoder()
        count = 0
        for data in datas:
            for line in line_decoder.decode(text_decoder.decode(data)):
                is_data = line.startswith("data: ") and line != "data: [DONE]"
                if is_data and content(json.loads(line[6:])):
                    count += 1
        return count

    per = 1e6 / events
    return {
        "h11": best(h11_datas, repeat) * per,
        "httpcore2": best(direct_body, repeat) * per,
        "dechunk": best(dechunk, repeat) * per,
        "sse": best(sse, repeat) * per,
        "parse": best(parse, repeat) * per,
        "json": best(json_only, repeat) * per,
        "pipeline": best(pipeline, repeat) * per,
        "raw lines": best(raw_lines, repeat) * per,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--events", type=int)
    parser.add_argument("--repeat", type=int)
    args = parser.parse_args()
    events = args.events or (4000 if args.quick else 20_000)
    repeat = args.repeat or (3 if args.quick else 7)
    names = ("h11", "httpcore2", "dechunk", "sse", "parse", "json", "pipeline", "raw lines")
    print(
        f"CPU us per content event, {events} events, 64 KiB reads, best of {repeat}; no network"
        " (steer_trio after the network = sse + parse + pipeline; raw = raw lines)"
    )
    print(f"  {'format':<10} {'per chunk':>9} " + " ".join(f"{n:>9}" for n in names))
    for fmt in ("openai", "responses", "gemini", "anthropic"):
        for per_chunk in (1, 20):
            got = stages(fmt, events, per_chunk, repeat)
            cells = " ".join(f"{got[n]:9.2f}" for n in names)
            print(f"  {fmt:<10} {per_chunk:>9} {cells}")


if __name__ == "__main__":
    main()
