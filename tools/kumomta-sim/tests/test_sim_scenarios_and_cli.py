"""Scenario files validate clearly; the CLI starts nodes and stops on SIGTERM; big is fast."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from sim_helpers import StartCluster

from kumowatch_sim import ScenarioError, load_scenario_file
from kumowatch_sim.bench import metrics_render_seconds_async


def test_json_and_yaml_scenario_files_load(tmp_path: Path) -> None:
    steps = {
        "steps": [
            {"at": 0, "set": {"rate": 50}},
            {"at": 30, "set": {"bounce_ratio": {"gmail": 0.4}}},
            {"at": 60, "fault": "503", "for": 10},
            {"at": 90, "restart": True},
        ]
    }
    (tmp_path / "s.json").write_text(json.dumps(steps))
    (tmp_path / "s.yaml").write_text(
        "steps:\n  - at: 0\n    set: {rate: 50}\n  - at: 60\n    fault: 503\n    for: 10\n"
    )
    from_json = load_scenario_file(tmp_path / "s.json")
    assert from_json.name == "s"
    assert [s.at for s in from_json.steps] == [0, 30, 60, 90]
    assert from_json.steps[2].for_ == 10
    from_yaml = load_scenario_file(tmp_path / "s.yaml")
    assert from_yaml.steps[1].fault == "503"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"steps": [{"at": 5}]}, "a step needs an action"),
        ({"steps": [{"at": 5, "fault": "melt"}]}, "steps.0.fault"),
        ({"steps": [{"at": -1, "restart": True}]}, "steps.0.at"),
        ({"steps": [{"at": 1, "set": {"bounce_ratio": {"gmail": 4}}}]}, "bounce_ratio"),
        ({"stepz": []}, "stepz"),
    ],
)
def test_invalid_scenario_files_name_the_problem(tmp_path: Path, body: object, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(body))
    with pytest.raises(ScenarioError, match="invalid scenario") as info:
        load_scenario_file(path)
    assert needle in str(info.value)


async def test_scenario_file_drives_a_node_through_the_control_endpoint(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster()).nodes[0]
    inline = {"steps": [{"at": 2, "set": {"deliveries": False}}, {"at": 4, "fault": "503"}]}
    async with http.post(node.url + "/_sim/scenario", json={"scenario": inline}) as resp:
        assert resp.status == 200
    async with http.post(node.url + "/_sim/advance", json={"seconds": 5}) as resp:
        assert resp.status == 200
    async with http.get(node.url + "/api/check-liveness/v1") as resp:
        assert resp.status == 503
    async with http.get(node.url + "/_sim/truth", params={"queues": "0"}) as resp:
        truth = await resp.json()
    assert truth["knobs"]["deliveries"] is False
    assert "scheduled" not in truth
    async with http.post(node.url + "/_sim/scenario", json={"name": "nope"}) as resp:
        assert resp.status == 400
        assert "unknown scenario" in await resp.text()


async def test_cli_prints_node_urls_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kumowatch_sim",
        "--nodes",
        "2",
        "--port",
        "0",
        "--tick",
        "0.1",
        "--quirks",
        "trailing-comma",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(20):
            lines = [(await proc.stdout.readline()).decode() for _ in range(2)]
        assert lines[0].startswith("mta1 http://127.0.0.1:")
        assert lines[1].startswith("mta2 http://127.0.0.1:")
        url = lines[0].split()[1]
        async with aiohttp.ClientSession() as http, http.get(url + "/metrics.json") as resp:
            assert resp.status == 200
            assert ",}" in await resp.text()
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            code = await proc.wait()
    assert code == 0


async def test_cli_rejects_unknown_quirks() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kumowatch_sim",
        "--quirks",
        "bogus",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"unknown quirks" in err


async def test_big_scenario_serves_100k_queues_in_under_a_second(
    start_cluster: StartCluster, http: aiohttp.ClientSession
) -> None:
    node = (await start_cluster(scenario="big")).nodes[0]
    node.model.advance(1)
    start = time.perf_counter()
    async with http.get(node.url + "/metrics") as resp:
        text = await resp.text()
    elapsed = time.perf_counter() - start
    assert text.count("\nscheduled_count{queue=") >= 100_000
    tail = text[text.index("# TYPE scheduled_queue_count") :].splitlines()[1]
    assert int(tail.split()[1]) >= 100_000
    assert elapsed < 1.0
    start = time.perf_counter()
    async with http.get(node.url + "/metrics") as resp:
        await resp.read()
    assert time.perf_counter() - start < elapsed  # cached within a tick


async def test_bench_reports_median_render_time_under_a_second() -> None:
    seconds = await metrics_render_seconds_async(queues=100_000, repeats=3)
    assert 0 < seconds < 1.0


async def test_readme_python_example_runs() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
