"""``steer-trio batch``: end to end in a child process (SIGINT halfway, resume, workers),
and in process for the dry run, bad lines, cut lines and shards.

With no provider key the command runs on the built-in local provider (the fake
provider embedded, a story word every 20 ms), so these tests need no server of their
own."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from steer_trio import cli
from steer_trio._batch import _report as batch_report

KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "XAI_API_KEY")


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "XAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def write_prompts(path: Path, count: int, extra_lines: list[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8") as file:
        for i in range(count):
            file.write(json.dumps({"id": f"p{i}", "prompt": f"Tell me about {i}"}) + "\n")
        for line in extra_lines or []:
            file.write(line + "\n")
    return path


def read_records(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    assert raw == b"" or raw.endswith(b"\n")
    return [json.loads(line) for line in raw.splitlines()]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_child(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "steer_trio.cli", "batch", *args],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_for_lines(path: Path, count: int, proc: subprocess.Popen[str], within: float) -> None:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no {count} result lines in time; stderr: {proc.communicate()[1]}")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigint_halfway_keeps_partials_then_resume_completes(tmp_path: Path, workers: str) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl", 80)
    out = tmp_path / "results.jsonl"
    args = [str(prompts), "-o", str(out), "--concurrency", "20", "--workers", workers]
    proc = run_child(args)
    wait_for_lines(out, 20, proc, within=60)
    # The stories run in lockstep: the 20th line comes as the next 20 items start. Let
    # them receive words (a word every 20 ms, about 70 a story) before the interrupt,
    # so the cancelled items have partial text to keep. A child process runs on real
    # time, and this is the one wait that cannot be observed from outside.
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == batch_report.EXIT_INTERRUPTED, err
    assert "using the built-in local provider" in err
    assert "rerun the same command to resume" in err
    first = read_records(out)
    cut = [r for r in first if r["status"] == "cancelled"]
    assert cut and all(r["partial"] for r in cut)
    assert any(r["text"].startswith("Once upon") for r in cut)  # partial text kept
    assert all(r["usage"]["is_estimated"] for r in cut)
    done_first = {r["id"] for r in first if r["status"] == "completed"}
    assert 20 <= len(done_first) < 80

    resumed = subprocess.run(
        [sys.executable, "-m", "steer_trio.cli", "batch", *args],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == cli.EXIT_OK, resumed.stderr
    assert f"resuming: {len(done_first)} of 80 already in" in resumed.stderr
    records = read_records(out)
    completed = collections.Counter(r["id"] for r in records if r["status"] == "completed")
    assert set(completed) == {f"p{i}" for i in range(80)}
    assert max(completed.values()) == 1  # nothing completed was run again
    # The partial ones were redone.
    assert {r["id"] for r in cut} <= set(completed)


def test_workers_produce_the_same_output_set_as_one_process(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl", 60, ["not json"])
    outputs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out-{workers}.jsonl"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "steer_trio.cli",
                "batch",
                str(prompts),
                "-o",
                str(out),
                "--concurrency",
                "30",
                "--workers",
                workers,
                "--no-progress",
            ],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == batch_report.EXIT_SOME_FAILED, done.stderr  # the bad line
        outputs[workers] = sorted(
            (
                str(r["id"]),
                r["status"],
                r["text"],
                (r.get("usage") or {}).get("total_tokens", -1),
                r.get("line", -1),
            )
            for r in read_records(out)
        )
    assert outputs["1"] == outputs["2"]
    assert len(outputs["1"]) == 61


def test_dry_run_counts_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl", 50, ['{"id": "p3", "prompt": "again"}'])
    out = tmp_path / "results.jsonl"
    code = cli.main(
        [
            "batch",
            str(prompts),
            "-o",
            str(out),
            "-m",
            "gpt-4o-mini",
            "--dry-run",
            "--max-tokens",
            "100",
            "--rpm",
            "10",
        ]
    )
    assert code == cli.EXIT_OK
    report = capsys.readouterr().out
    assert not out.exists()  # nothing sent, nothing written
    assert "requests: 50; bad lines: 1; duplicate ids: 1" in report
    assert "to run: 50" in report and "gpt-4o-mini (50)" in report
    assert "5,000 output" in report  # 50 x max_tokens
    # gpt-4o-mini: $0.60 per million output tokens: 5,000 -> $0.003, plus the prompts.
    cost = float(report.split("cost at most: $")[1].split(";")[0])
    assert 0.003 < cost < 0.0035
    assert "bound by rpm" in report and "5m00s" in report  # 50 requests at 10 a minute


def test_bad_lines_are_error_records_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = write_prompts(
        tmp_path / "prompts.jsonl",
        3,
        ["{broken", '{"id": "p1", "prompt": "duplicate"}', '{"id": "np"}', "", "[]"],
    )
    out = tmp_path / "results.jsonl"
    code = cli.main(["batch", str(prompts), "-o", str(out), "--no-progress", "--workers", "1"])
    assert code == batch_report.EXIT_SOME_FAILED
    records = read_records(out)
    bad = [r for r in records if r["error"] and r["error"]["type"] == "BatchInputError"]
    # Written first, before any result.
    assert [r["line"] for r in records[:4]] == [4, 5, 6, 8]
    assert len(bad) == 4 and records[4:] and all(r["status"] == "completed" for r in records[4:])
    assert "duplicate id 'p1' (first on line 2)" in bad[1]["error"]["message"]
    assert sorted(r["id"] for r in records[4:]) == ["p0", "p1", "p2"]
    assert "4 bad input line" in capsys.readouterr().err

    # Rerun: nothing to do, and the bad lines are not reported again.
    code = cli.main(["batch", str(prompts), "-o", str(out), "--no-progress", "--workers", "1"])
    assert len(read_records(out)) == len(records)


def test_a_line_cut_by_a_crash_is_dropped_on_resume(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl", 4)
    out = tmp_path / "results.jsonl"
    whole = json.dumps({"id": "p0", "status": "completed", "partial": False, "text": "earlier"})
    out.write_text(whole + "\n" + '{"id": "p1", "status": "compl', encoding="utf-8")
    code = cli.main(["batch", str(prompts), "-o", str(out), "--no-progress", "--workers", "1"])
    assert code == cli.EXIT_OK
    records = read_records(out)  # every line parses: the cut one is gone
    assert records[0]["text"] == "earlier"
    assert sorted(r["id"] for r in records[1:]) == ["p1", "p2", "p3"]


def test_no_retry_failed_keeps_failed_results(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl", 3)
    out = tmp_path / "results.jsonl"
    failed = {"id": "p1", "status": "failed", "partial": False, "text": "", "error": None}
    out.write_text(json.dumps(failed) + "\n", encoding="utf-8")
    base = ["batch", str(prompts), "-o", str(out), "--no-progress", "--workers", "1"]
    cli.main([*base, "--no-retry-failed"])
    assert sorted(r["id"] for r in read_records(out)[1:]) == ["p0", "p2"]
    cli.main(base)
    assert [r["id"] for r in read_records(out)[3:]] == ["p1"]  # redone without the flag


def test_shards_split_the_ids_between_machines(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl", 30)
    seen: list[set[str]] = []
    for shard in ("1/3", "2/3", "3/3"):
        out = tmp_path / f"out-{shard[0]}.jsonl"
        cli.main(["batch", str(prompts), "-o", str(out), "--shard", shard, "--no-progress"])
        seen.append({r["id"] for r in read_records(out)})
    assert set.union(*seen) == {f"p{i}" for i in range(30)}
    assert sum(len(s) for s in seen) == 30 and all(seen)


def test_bad_command_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl", 1)
    out = str(tmp_path / "o.jsonl")
    for args, fragment in (
        (["--shard", "5/4"], "--shard"),
        (["--concurrency", "0"], "--concurrency"),
        (["--max-cost", "-1"], "--max-cost"),
    ):
        assert cli.main(["batch", str(prompts), "-o", out, *args]) == cli.EXIT_USAGE
        assert fragment in capsys.readouterr().err
    assert cli.main(["batch", str(tmp_path / "missing.jsonl"), "-o", out]) == cli.EXIT_USAGE
    with pytest.raises(SystemExit) as info:
        cli.main(["batch", str(prompts)])  # no -o
    assert info.value.code == cli.EXIT_USAGE
