"""Hostile transport behaviour: redirects, credentials, secrets in URLs, plain http,
compression bombs, error bodies with a 200 status, bytes after a body."""

from __future__ import annotations

import gzip
import json
import uuid
import warnings
from typing import Any

import httpx2
import pytest
import trio

from steer_trio import (
    APIConnectionError,
    InsecureTransportWarning,
    OverloadedError,
    RateLimitError,
    ResponseTooLargeError,
    SteerClient,
    SteerError,
    StreamingOptions,
    StreamInterruptedError,
    StreamProtocolError,
)
from steer_trio.testing import FakeProvider, Fault, Scenario, open_fake_provider

from ._support import (
    ALL_PATHS,
    CHUNKED_END,
    FORMATS,
    OPENAI_FINISH,
    SSE_HEAD,
    STREAM_PATHS,
    TEXT,
    RawServer,
    Recorder,
    chunk,
    make_client,
    open_raw_server,
    openai_delta,
    pool_of_one,
    run_path,
)

# -- redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("path", ALL_PATHS)
async def test_redirect_says_redirect_and_where(
    fake_provider: FakeProvider, path: str, status: int
) -> None:
    where = "https://moved.example.test/v1/chat/completions"
    fake_provider.enqueue(
        Scenario(fault=Fault("http_error", status=status, headers={"location": where}))
    )
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client)
    error = outcome.error
    assert isinstance(error, StreamProtocolError), repr(error)
    assert "redirect" in str(error) and where in str(error) and str(status) in str(error)
    assert len(fake_provider.requests) == 1


def raw_server_client(server: RawServer) -> SteerClient:
    """A client of the raw server's OpenAI-shaped endpoints, on a pool of one."""
    return SteerClient(
        api_keys={"openai": "k"},
        base_urls={"openai": server.base_url + "/v1"},
        limits=pool_of_one(),
    )


def secrets_in(request_headers: dict[str, str]) -> set[str]:
    return {"authorization", "x-api-key", "x-goog-api-key"} & set(request_headers)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_followed_redirect_to_another_origin_drops_the_key(fmt: str) -> None:
    async with open_fake_provider() as origin, open_fake_provider() as other:
        base = {
            "openai": other.openai_base_url,
            "anthropic": other.anthropic_base_url,
            "gemini": other.gemini_base_url,
        }
        target = {
            "openai": base["openai"] + "/chat/completions",
            "responses": base["openai"] + "/responses",
            "anthropic": base["anthropic"] + "/v1/messages",
            "gemini": base["gemini"] + "/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        }[fmt]
        origin.enqueue(
            Scenario(fault=Fault("http_error", status=307, headers={"location": target}))
        )
        other.enqueue(Scenario(text=TEXT))
        async with httpx2.AsyncClient(follow_redirects=True) as http:
            client = SteerClient(
                api_keys={"openai": "sk-SECRET", "anthropic": "sk-ant-SECRET", "gemini": "SECRET"},
                base_urls={
                    "openai": origin.openai_base_url,
                    "anthropic": origin.anthropic_base_url,
                    "gemini": origin.gemini_base_url,
                },
                http_client=http,
            )
            async with client:
                with trio.fail_after(10):
                    outcome = await run_path("stream_with_usage", client, fmt)
        (first,) = origin.requests
        (second,) = other.requests
    assert secrets_in(first.headers), "the key was sent to the first origin"
    assert not secrets_in(second.headers), second.headers
    assert "SECRET" not in json.dumps(second.headers)
    # Without the key, the other origin answered anyway (a fake): the body was re-sent.
    assert outcome.response is not None and outcome.response.text == "".join(TEXT)


async def test_followed_redirect_within_the_origin_keeps_the_key(
    fake_provider: FakeProvider,
) -> None:
    target = fake_provider.openai_base_url + "/chat/completions"
    fake_provider.enqueue(
        Scenario(fault=Fault("http_error", status=308, headers={"location": target})),
        Scenario(text=TEXT),
    )
    async with httpx2.AsyncClient(follow_redirects=True) as http:
        client = SteerClient(
            api_keys={"openai": "sk-SECRET"},
            base_urls={"openai": fake_provider.openai_base_url},
            http_client=http,
        )
        async with client:
            response = await client.stream_with_usage("x", model="gpt-4o")
    assert response.text == "".join(TEXT)
    first, second = fake_provider.requests
    assert first.headers["authorization"] == second.headers["authorization"] == "Bearer sk-SECRET"
    assert first.json == second.json  # a 307/308 keeps the body


# -- secrets in URLs ---------------------------------------------------------------------


def every_message(error: BaseException) -> str:
    """The text of the error and of everything chained to it."""
    seen: list[str] = []
    node: BaseException | None = error
    for _ in range(10):
        if node is None:
            break
        seen.extend([str(node), repr(node)])
        node = node.__cause__ or node.__context__
    return "\n".join(seen)


def refused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # bound, never listening: refused


@pytest.mark.parametrize("path", ALL_PATHS)
async def test_secrets_in_base_url_never_appear_in_errors_refused(
    path: str, autojump_clock: Any
) -> None:
    base = f"http://alice:hunter2pass@127.0.0.1:{refused_port()}/v1?key=QUERYSECRET"
    async with SteerClient(api_keys={"openai": "k"}, base_urls={"openai": base}) as client:
        with trio.fail_after(60):
            outcome = await run_path(path, client)
    assert isinstance(outcome.error, APIConnectionError), repr(outcome.error)
    text = every_message(outcome.error)
    assert "hunter2pass" not in text and "QUERYSECRET" not in text
    assert "127.0.0.1" in text  # still says where


@pytest.mark.parametrize("status", [302, 404, 500])
async def test_secrets_in_base_url_never_appear_in_errors_answered(
    fake_provider: FakeProvider, status: int, autojump_clock: Any
) -> None:
    body = '{"error": {"message": "no", "type": "server_error"}}'
    fake_provider.route(
        "gpt-4o",
        Scenario(
            fault=Fault(
                "http_error",
                status=status,
                body=body,
                headers={"location": "/v1/elsewhere?token=LOCSECRET"},
            )
        ),
    )
    host = f"{fake_provider.host}:{fake_provider.port}"
    base = f"http://alice:hunter2pass@{host}/v1"
    async with SteerClient(api_keys={"openai": "k"}, base_urls={"openai": base}) as client:
        with trio.fail_after(60):
            outcome = await run_path("stream_with_usage", client)
    assert isinstance(outcome.error, SteerError), repr(outcome.error)
    text = every_message(outcome.error)
    assert "hunter2pass" not in text and "LOCSECRET" not in text


# -- plain http ----------------------------------------------------------------------------


def sse_transport(requests: list[httpx2.Request]) -> httpx2.MockTransport:
    body = b"".join(openai_delta(t) for t in TEXT) + OPENAI_FINISH

    def handler(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx2.MockTransport(handler)


async def test_key_over_plain_http_to_a_remote_host_warns_once() -> None:
    host = f"llm-{uuid.uuid4().hex[:8]}.example.test"
    sent: list[httpx2.Request] = []
    async with httpx2.AsyncClient(transport=sse_transport(sent)) as http:
        client = SteerClient(
            api_keys={"openai": "sk-x"},
            base_urls={"openai": f"http://{host}/v1"},
            http_client=http,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                response = await client.stream_with_usage("x", model="gpt-4o")
                assert response.text == "".join(TEXT)
        await client.aclose()
    insecure = [w for w in caught if issubclass(w.category, InsecureTransportWarning)]
    assert len(insecure) == 1 and host in str(insecure[0].message)
    assert len(sent) == 3


@pytest.mark.parametrize(
    "base",
    ["https://{host}/v1", "http://127.0.0.1:9/v1", "http://localhost:9/v1", "http://[::1]/v1"],
)
async def test_no_warning_over_https_or_loopback(base: str) -> None:
    sent: list[httpx2.Request] = []
    url = base.format(host=f"llm-{uuid.uuid4().hex[:8]}.example.test")
    async with httpx2.AsyncClient(transport=sse_transport(sent)) as http:
        client = SteerClient(
            api_keys={"openai": "sk-x"}, base_urls={"openai": url}, http_client=http
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await client.stream_with_usage("x", model="gpt-4o")
        await client.aclose()
    assert not [w for w in caught if issubclass(w.category, InsecureTransportWarning)]
    assert len(sent) == 1


# -- bodies --------------------------------------------------------------------------------


async def test_generate_caps_a_gzip_bomb() -> None:
    inflated = 64 * 1024 * 1024
    bomb = gzip.compress(b'{"id": "' + b"A" * inflated + b'"}', compresslevel=9)
    assert len(bomb) < 256 * 1024
    requests: list[httpx2.Request] = []

    class Pieces(httpx2.AsyncByteStream):
        async def __aiter__(self) -> Any:
            for start in range(0, len(bomb), 16 * 1024):
                yield bomb[start : start + 16 * 1024]

    def handler(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        return httpx2.Response(
            200,
            headers={"content-type": "application/json", "content-encoding": "gzip"},
            stream=Pieces(),
        )

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        client = SteerClient(
            api_keys={"openai": "k"},
            base_urls={"openai": "https://bomb.example.test/v1"},
            http_client=http,
            streaming_options=StreamingOptions(max_response_bytes=1024 * 1024),
        )
        with trio.fail_after(10), pytest.raises(ResponseTooLargeError, match="max_response_bytes"):
            await client.generate("x", model="gpt-4o")
        await client.aclose()
    assert len(requests) == 1
    assert requests[0].headers["accept-encoding"] == "identity"


async def test_generate_through_a_mock_transport() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=json.loads(completion("fine")))

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        client = SteerClient(
            api_keys={"openai": "k"},
            base_urls={"openai": "https://mock.example.test/v1"},
            http_client=http,
        )
        try:
            response = await client.generate("x", model="gpt-4o")
        finally:
            await client.aclose()
    assert response.text == "fine"


PATHS_200 = ALL_PATHS


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        ('{"error": {"type": "rate_limit_error", "message": "slow down"}}', RateLimitError),
        (
            '{"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}',
            OverloadedError,
        ),
    ],
)
@pytest.mark.parametrize("path", PATHS_200)
async def test_200_json_error_body_maps_to_its_class(
    fake_provider: FakeProvider, recorder: Recorder, path: str, body: str, cls: type
) -> None:
    fake_provider.enqueue(Scenario(fault=Fault("http_error", status=200, body=body)))
    callbacks = {} if path == "generate" else recorder.callbacks()
    async with make_client(fake_provider, max_retries=0) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, **callbacks)
    assert type(outcome.error) is cls, repr(outcome.error)
    assert "slow down" in str(outcome.error) or "busy" in str(outcome.error)
    assert len(fake_provider.requests) == 1
    partial = outcome.partial
    assert partial.text == "" and partial.usage_info is None and partial.cost_usd == 0.0
    assert (partial.cost_reason or "").startswith("not billed")


@pytest.mark.parametrize("path", PATHS_200)
async def test_200_json_error_body_is_retried_like_a_status(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    """A retryable error that came as a 200 JSON body is retried as if it were a 429:
    the same on every path."""
    body = '{"error": {"type": "rate_limit_error", "message": "slow down"}}'
    fake_provider.enqueue(
        Scenario(fault=Fault("http_error", status=200, body=body)), Scenario(text=TEXT)
    )
    async with make_client(fake_provider) as client:
        with trio.fail_after(60):
            outcome = await run_path(path, client)
    assert outcome.error is None, repr(outcome.error)
    assert len(fake_provider.requests) == 2


EVIL = json.dumps(
    {
        "id": "chatcmpl-evil",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "EVIL"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()


def completion(text: str) -> bytes:
    return EVIL.replace(b"EVIL", text.encode())


def smuggled_response() -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        len(EVIL),
        EVIL,
    )


async def body_then_extra_bytes(stream: trio.SocketStream, request: bytes, index: int) -> bool:
    """The first answer has a complete Content-Length body followed by a whole second
    response; the others are honest. The connection is kept open either way."""
    streaming = b'"stream":true' in request.replace(b" ", b"")
    if streaming:
        body = openai_delta("GOOD") + OPENAI_FINISH
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    else:
        body = completion("GOOD")
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    answer = head + b"content-length: %d\r\n\r\n" % len(body) + body
    await stream.send_all(answer + (smuggled_response() if index == 0 else b""))
    return True


@pytest.mark.parametrize("first", ALL_PATHS)
async def test_bytes_after_a_body_never_answer_the_next_request(first: str) -> None:
    async with (
        open_raw_server(body_then_extra_bytes) as server,
        raw_server_client(server) as client,
    ):
        with trio.fail_after(10):
            one = await run_path(first, client)
            two = await client.generate("x", model="gpt-4o")
            three = await client.stream_with_usage("x", model="gpt-4o")
    assert one.error is None and one.response is not None, repr(one.error)
    assert one.response.text == "GOOD"
    assert two.text == "GOOD" and three.text == "GOOD"
    assert len(server.requests) == 3


async def chunked_then_extra(stream: trio.SocketStream, request: bytes, index: int) -> bool:
    """The first answer is a chunked stream followed by a whole second response."""
    if index > 0:
        return await body_then_extra_bytes(stream, request, index)
    body = openai_delta("GOOD") + OPENAI_FINISH
    await stream.send_all(SSE_HEAD + chunk(body) + CHUNKED_END + smuggled_response())
    return True


@pytest.mark.parametrize("first", STREAM_PATHS)
async def test_bytes_after_a_chunked_stream_never_answer_the_next_request(first: str) -> None:
    async with (
        open_raw_server(chunked_then_extra) as server,
        raw_server_client(server) as client,
    ):
        with trio.fail_after(10):
            one = await run_path(first, client)
            two = await client.generate("x", model="gpt-4o")
    assert one.response is not None and one.response.text == "GOOD", repr(one.error)
    assert two.text == "GOOD"


async def good_chunks_then_bad_framing(
    stream: trio.SocketStream, request: bytes, index: int
) -> bool:
    """Two good chunks and a chunk whose size line is not hex, in one write: the body
    reader gets all three from one network read."""
    if index > 0:
        return await body_then_extra_bytes(stream, request, index)
    good = chunk(openai_delta("one ")) + chunk(openai_delta("two "))
    await stream.send_all(SSE_HEAD + good + b"zz\r\nnot a chunk\r\n")
    return False


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_bad_chunk_framing_after_good_chunks_in_one_read_keeps_them(path: str) -> None:
    """The body reader takes every chunk one read completed at once; a framing error
    among them comes after the chunks before it, never instead of them."""
    async with (
        open_raw_server(good_chunks_then_bad_framing) as server,
        raw_server_client(server) as client,
    ):
        with trio.fail_after(10):
            outcome = await run_path(path, client)
            after = await client.generate("x", model="gpt-4o")
    assert isinstance(outcome.error, StreamInterruptedError), repr(outcome.error)
    assert outcome.error.partial is not None and outcome.error.partial.text == "one two "
    if path != "stream_with_usage" and path != "background":
        assert "".join(outcome.chunks) == "one two "
    assert after.text == "GOOD" and len(server.requests) == 2


def trailers_then_reuse(pieces: list[bytes]) -> Any:
    async def handler(stream: trio.SocketStream, request: bytes, index: int) -> bool:
        """The stream in ``pieces`` (one write each, a pause between), trailers after
        its last chunk; then, on the same connection, plain answers."""
        if index > 0:
            return await body_then_extra_bytes(stream, request, index)
        await stream.send_all(SSE_HEAD)
        for piece in pieces:
            await trio.sleep(0.01)
            await stream.send_all(piece)
        return True

    return handler


BODY = chunk(openai_delta("one ")) + chunk(openai_delta("two ")) + chunk(OPENAI_FINISH)
LAST = b"0\r\nx-checksum: abc\r\nx-other: 1\r\n\r\n"


@pytest.mark.parametrize(
    "pieces",
    [
        [BODY + LAST],
        [BODY[:7], BODY[7:40], BODY[40:], LAST[:1], LAST[1:3], LAST[3:20], LAST[20:]],
        [bytes([b]) for b in BODY + LAST],
    ],
    ids=["one write", "cut anywhere", "a byte per write"],
)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_a_chunked_body_with_trailers_completes_and_its_connection_is_reused(
    path: str, pieces: list[bytes], autojump_clock: Any
) -> None:
    async with (
        open_raw_server(trailers_then_reuse(pieces)) as server,
        raw_server_client(server) as client,
    ):
        with trio.fail_after(30):
            outcome = await run_path(path, client)
            after = await client.generate("x", model="gpt-4o")
    assert outcome.error is None, repr(outcome.error)
    assert outcome.response is not None and outcome.response.text == "one two "
    assert not outcome.response.is_partial
    assert after.text == "GOOD"
    assert server.connections == 1 and len(server.requests) == 2


async def cut_inside_a_chunk(stream: trio.SocketStream, request: bytes, index: int) -> bool:
    good = chunk(openai_delta("one "))
    await stream.send_all(SSE_HEAD + good + chunk(openai_delta("two "))[:-9])
    return False  # closes the connection in the middle of the second chunk


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_a_body_cut_inside_a_chunk_is_interrupted_with_what_came_before(path: str) -> None:
    async with (
        open_raw_server(cut_inside_a_chunk) as server,
        raw_server_client(server) as client,
    ):
        with trio.fail_after(10):
            outcome = await run_path(path, client)
    assert isinstance(outcome.error, StreamInterruptedError), repr(outcome.error)
    assert outcome.error.partial is not None and outcome.error.partial.text == "one "
    assert len(server.requests) == 1  # the answer had started: never sent again
