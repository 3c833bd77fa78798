"""The providers' batch engines against the fake provider's batch endpoints: submit,
poll, results (usage, the 50% discount), partly failed and expired jobs, cancel, and
resume by job id (a rerun never submits again)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from steer_trio import BATCH_DISCOUNTS, ProviderBatchJob
from steer_trio._processing._pricing import default_price_table
from steer_trio._usage import Usage
from steer_trio.testing import FakeBatchAPI, FakeProvider, Scenario
from tests.conftest import steer_client


def requests(count: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "prompt": f"Question {i}", **extra} for i in range(count)]


def posts(server: FakeProvider, path_end: str) -> int:
    return sum(1 for r in server.requests if r.method == "POST" and r.path.endswith(path_end))


@pytest.mark.parametrize(
    ("model", "engine"), [("gpt-4o-mini", "openai"), ("claude-haiku-4-5", "anthropic")]
)
async def test_submit_poll_and_results_at_the_batch_discount(
    fake_provider: FakeProvider, autojump_clock: Any, model: str, engine: str
) -> None:
    batches = FakeBatchAPI.install(fake_provider, polls_to_finish=3)
    fake_provider.route(
        model, Scenario(text="forty two", prompt_tokens=1000, completion_tokens=500)
    )
    async with steer_client(fake_provider) as client:
        job = await client.submit_batch(requests(5, max_tokens=600), model=model)
        assert isinstance(job, ProviderBatchJob) and job.engine == engine
        first = await job.poll()
        assert not first.ended
        await job.wait(poll_interval=60)
        results = await job.results()
    assert sorted(r.id for r in results) == [f"r{i}" for i in range(5)]
    price = default_price_table().cost(model, Usage.build(1000, 500)).cost_usd
    assert price is not None
    for result in results:
        assert result.status == "completed" and result.text == "forty two"
        assert result.usage is not None and result.usage.prompt_tokens == 1000
        assert result.cost_usd == pytest.approx(price * (1 - BATCH_DISCOUNTS[engine]))
    (submitted,) = batches.jobs.values()
    assert len(submitted.requests) == 5
    custom_id, body = submitted.requests[0]
    assert custom_id == "r0" and body["model"] == model and "stream" not in body
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 600
    if engine == "openai":
        assert posts(fake_provider, "/v1/files") == 1 and posts(fake_provider, "/v1/batches") == 1
    else:
        assert posts(fake_provider, "/v1/messages/batches") == 1


async def test_openai_partly_failed_and_expired(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    FakeBatchAPI.install(fake_provider, polls_to_finish=1, fail_ids={"r1"}, expire_after=4)
    async with steer_client(fake_provider) as client:
        job = await client.submit_batch(requests(6), model="gpt-4o-mini")
        status = await job.wait(poll_interval=1)
        results = {r.id: r for r in await job.results()}
    assert set(status.statuses.values()) == {"expired"}
    assert [results[f"r{i}"].status for i in range(6)] == [
        "completed",
        "failed",
        "completed",
        "completed",
        "timed_out",
        "timed_out",
    ]
    assert results["r1"].error_type == "BadRequestError"
    assert results["r4"].error_type == "BatchExpired"


async def test_anthropic_errored_expired_and_ids_it_would_refuse(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    batches = FakeBatchAPI.install(
        fake_provider, polls_to_finish=1, fail_ids={"plain-id"}, expire_after=2
    )
    items = [
        {"id": "plain-id", "prompt": "a"},
        {"id": "row 7 / spaces.and.dots", "prompt": "b"},
        {"id": "x" * 80, "prompt": "c"},
    ]
    async with steer_client(fake_provider) as client:
        job = await client.submit_batch(items, model="claude-haiku-4-5")
        results = {r.id: r for r in await job.results()}
    sent = [custom_id for custom_id, _ in next(iter(batches.jobs.values())).requests]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", c) for c in sent)
    assert set(results) == {item["id"] for item in items}  # mapped back
    assert results["plain-id"].status == "failed"
    assert results["plain-id"].error_type == "invalid_request_error"
    assert results["row 7 / spaces.and.dots"].status == "completed"
    assert results["x" * 80].status == "timed_out"


async def test_resume_by_job_id_never_submits_twice(
    fake_provider: FakeProvider, autojump_clock: Any, tmp_path: Path
) -> None:
    FakeBatchAPI.install(fake_provider, seconds_to_finish=3600)
    state = tmp_path / "state.json"
    async with steer_client(fake_provider) as client:
        job = await client.submit_batch(requests(3), model="gpt-4o-mini", state_file=state)
        assert not (await job.poll()).ended
        recorded = json.loads(state.read_text())
        assert [j["job_id"] for j in recorded["jobs"]] == job.job_ids

        # A new process, the next morning: the same call takes the job up again.
        again = await client.submit_batch(requests(3), model="gpt-4o-mini", state_file=state)
        assert again.job_ids == job.job_ids
        assert posts(fake_provider, "/v1/batches") == 1
        await again.wait(poll_interval=600)
        results = await again.results()
        assert [r.status for r in results] == ["completed"] * 3
        # Fetched: the state says so, and a rerun now would start a new job.
        assert all(j["downloaded"] for j in json.loads(state.read_text())["jobs"])
        assert [r async for r in again.iter_results()] == []


async def test_cancel_keeps_what_finished(fake_provider: FakeProvider, autojump_clock: Any) -> None:
    FakeBatchAPI.install(fake_provider, polls_to_finish=50)
    async with steer_client(fake_provider) as client:
        job = await client.submit_batch(requests(4), model="gpt-4o-mini")
        await job.poll()
        await job.cancel()
        status = await job.wait(poll_interval=1)
        results = sorted(await job.results(), key=lambda r: r.id)
    assert set(status.statuses.values()) == {"cancelled"}
    assert [r.status for r in results] == ["completed", "completed", "cancelled", "cancelled"]


async def test_large_inputs_are_split_into_jobs(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    batches = FakeBatchAPI.install(fake_provider, polls_to_finish=1)
    async with steer_client(fake_provider) as client:
        job = await client.submit_batch(requests(7), model="gpt-4o-mini", max_per_job=3)
        results = await job.results()
    assert [len(j.requests) for j in batches.jobs.values()] == [3, 3, 1]
    assert len(job.job_ids) == 3 and len(results) == 7


async def test_one_model_per_job(fake_provider: FakeProvider) -> None:
    from steer_trio import BatchInputError

    FakeBatchAPI.install(fake_provider)
    async with steer_client(fake_provider) as client:
        with pytest.raises(BatchInputError, match="one model"):
            await client.submit_batch(
                [{"id": "a", "prompt": "x", "model": "gpt-4o"}], model="gpt-4o-mini"
            )


SERVER = textwrap.dedent(
    """
    import sys, trio
    from steer_trio.testing import FakeBatchAPI, open_fake_provider

    async def main():
        async with open_fake_provider() as server:
            FakeBatchAPI.install(server, polls_to_finish=int(sys.argv[1]))
            print(f"listening on {server.base_url}", flush=True)
            await trio.sleep_forever()

    try:
        trio.run(main)
    except KeyboardInterrupt:
        pass
    """
)


@pytest.fixture
def batch_server(tmp_path: Path) -> Any:
    script = tmp_path / "server.py"
    script.write_text(SERVER, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), "8"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = re.search(r"http://[\d.]+:\d+", proc.stdout.readline())
    assert url
    yield url.group(0)
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()


def cli_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    return {**env, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": f"{url}/v1"}


def engine_command(tmp_path: Path, count: int, out: Path) -> list[str]:
    """``steer-trio batch`` of ``count`` requests on the OpenAI batch engine, polling
    every 0.3 s, results to ``out``."""
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in requests(count)), encoding="utf-8")
    command = [sys.executable, "-m", "steer_trio.cli", "batch", str(prompts), "-o", str(out)]
    return [*command, "-m", "gpt-4o-mini", "--engine", "openai-batch", "--poll-interval", "0.3"]


def test_cli_ctrl_c_while_polling_leaves_the_job_then_rerun_fetches(
    batch_server: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    command = engine_command(tmp_path, 6, out)
    env = cli_env(batch_server)
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "in_progress" in line:
            break  # the job id is saved before the first poll prints its status
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=30)[1]
    err = "".join(seen) + rest
    assert proc.returncode == 130, err
    job_id = re.search(r"batch_\w+", err)
    assert job_id and "keep running" in err and "--cancel-remote" in err
    state = json.loads((tmp_path / "out.jsonl.batch-state.json").read_text())
    assert state["jobs"][0]["job_id"] == job_id.group(0)

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert f"polling {job_id.group(0)}" in again.stderr and "submitted 6" not in again.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == [f"r{i}" for i in range(6)]
    assert all(r["status"] == "completed" and r["cost_usd"] > 0 for r in records)
    assert not (tmp_path / "out.jsonl.batch-state.json").exists()

    # Everything is done: a third run submits nothing.
    third = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert third.returncode == 0 and "submitted" not in third.stderr, third.stderr


def test_cli_cancel_remote(batch_server: str, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    base = engine_command(tmp_path, 4, out)
    env = cli_env(batch_server)
    proc = subprocess.Popen(base, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "in_progress" in line:
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    cancel = subprocess.run(
        [*base, "--cancel-remote"], env=env, capture_output=True, text=True, timeout=30
    )
    assert cancel.returncode == 0 and "asked" in cancel.stderr and "cancel" in cancel.stderr
    fetch = subprocess.run(base, env=env, capture_output=True, text=True, timeout=60)
    assert fetch.returncode == 1  # some were cancelled
    statuses = sorted(json.loads(line)["status"] for line in out.read_text().splitlines())
    assert statuses == ["cancelled", "cancelled", "completed", "completed"]


async def test_an_unknown_submit_option_is_refused_with_a_suggestion(
    fake_provider: FakeProvider,
) -> None:
    from steer_trio import ConfigurationError

    FakeBatchAPI.install(fake_provider)
    async with steer_client(fake_provider) as client:
        with pytest.raises(ConfigurationError, match="did you mean 'poll_interval'"):
            await client.submit_batch(requests(1), pol_interval=5)  # type: ignore[call-arg]
        with pytest.raises(ConfigurationError, match="poll_interval"):
            await client.submit_batch(requests(1), poll_interval=0)
    assert posts(fake_provider, "/v1/batches") == 0


async def test_results_left_early_are_fetched_again_next_time(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    FakeBatchAPI.install(fake_provider, polls_to_finish=1)
    async with steer_client(fake_provider) as client:
        job = await client.submit_batch(requests(4), model="gpt-4o-mini")
        await job.wait(poll_interval=1)
        first = await job.iter_results().__anext__()
        again = [r.id async for r in job.iter_results()]
        last = [r async for r in job.iter_results()]
    assert first.id in again and sorted(again) == ["r0", "r1", "r2", "r3"]
    assert last == []  # every result was handed out: the job is not fetched a third time
