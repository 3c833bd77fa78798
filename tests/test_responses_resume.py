"""A background Responses API answer survives a dropped connection: the client reads
the rest of the same answer (GET .../responses/{id}?starting_after=N), never sends the
request again, and delivers every text exactly once."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import steer_client

from steer_trio import StreamInterruptedError
from steer_trio.testing import FakeProvider, Fault, Scenario

WORDS = ["alpha ", "beta ", "gamma ", "delta ", "epsilon ", "zeta "]


@pytest.mark.parametrize("kind", ["drop_after", "reset_after", "truncate_after"])
async def test_background_response_resumes_after_a_broken_connection(
    fake_provider: FakeProvider, kind: str
) -> None:
    fake_provider.enqueue(Scenario(text=WORDS, fault=Fault(kind, after_events=3)))
    async with steer_client(fake_provider) as client:
        seen: list[str] = []
        async with client.stream(
            "go", "gpt-4o", api="responses", extra_body={"background": True}
        ) as stream:
            async for chunk in stream:
                seen.append(chunk)
    assert "".join(seen) == "".join(WORDS)
    assert stream.response is not None and stream.response.text == "".join(WORDS)
    assert not stream.response.is_partial
    methods = [(r.method, r.path) for r in fake_provider.requests]
    assert methods[0] == ("POST", "/v1/responses")
    # One resume, and it asked for what came after the last event it had.
    assert [m for m, _ in methods].count("POST") == 1
    assert methods[1][0] == "GET" and methods[1][1].startswith("/v1/responses/")


async def test_without_background_a_broken_stream_is_not_resumed(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.enqueue(Scenario(text=WORDS, fault=Fault("drop_after", after_events=3)))
    async with steer_client(fake_provider) as client:
        with pytest.raises(StreamInterruptedError) as caught:
            await client.stream_with_usage("go", "gpt-4o", api="responses")
    assert caught.value.partial is not None
    assert caught.value.partial.text == "".join(WORDS[:3])
    assert [r.method for r in fake_provider.requests] == ["POST"]


async def test_resume_query_carries_the_last_sequence_number(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=WORDS, fault=Fault("drop_after", after_events=2)))
    async with steer_client(fake_provider) as client:
        response: Any = await client.stream_with_usage(
            "go", "gpt-4o", api="responses", extra_body={"background": True}
        )
    assert response.text == "".join(WORDS)
    get = next(r for r in fake_provider.requests if r.method == "GET")
    query = dict(part.split("=", 1) for part in get.query.split("&"))
    assert query["stream"] == "true"
    # created, in_progress, then two text deltas (their item/part events between) were
    # read; the resume starts after the last sequence number the parser kept.
    assert int(query["starting_after"]) >= 3
