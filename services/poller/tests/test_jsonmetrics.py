"""The metrics.json parser: the reference samples, KumoMTA's label shapes and hand-assembly quirks."""

from __future__ import annotations

import math

import pytest
from poller_samples import sample

from kumowatch_poller.errors import MetricsParseError
from kumowatch_poller.jsonmetrics import parse_json, repair
from kumowatch_poller.metricset import LABEL_SEP, WANTED
from kumowatch_poller.promtext import parse_text


def test_reference_excerpt_with_its_trailing_comma() -> None:
    ms = parse_json(sample("02_metrics_json_excerpt.jsonc"))
    assert ms.value("ready_count", "smtp_client:source1->loopback.dummy-mx.example.com") == 46
    assert ms.value("ready_count", "smtp_client:source2->loopback.dummy-mx.example.com") == 152
    assert ms.value("connection_count", "smtp_client:source2->") == 0
    assert ms.value("scheduled_count", "example.com") == 0
    assert ms.series == 10
    assert ms.garbage == 0


def test_label_shapes_zero_one_many_and_histogram() -> None:
    ms = parse_json(sample("03_metrics_json_label_shapes.jsonc"))
    assert ms.value("no_label_counter") == 0
    assert ms.family("one_label_counter") == {"label_value": 0, "2nd": 0}
    key = LABEL_SEP.join(["2nd_label_name=2nd_label_value", "first_label_name=first_label_value"])
    assert ms.value("two_label_counter", key) == 0
    assert ms.value("hist_name_count") == 0
    assert ms.value("hist_name_sum") == 0


def test_null_value_means_no_series() -> None:
    ms = parse_json('{"memory_usage": {"type": "gauge", "value": null}, "x": {"value": 2}}')
    assert "memory_usage" not in ms.families
    assert ms.value("x") == 2


def test_unescaped_quotes_backslashes_and_nonfinite_values_are_repaired() -> None:
    body = (
        '{"scheduled_count": {"type": "gauge", "value": {"queue": {'
        '"camp"aign:tenant@example.com": 3, "C:\\path@example.com": 4, '
        '"n@example.com": NaN, "i@example.com": -inf,}}},}'
    )
    ms = parse_json(body)
    fam = ms.family("scheduled_count")
    assert fam['camp"aign:tenant@example.com'] == 3
    assert fam["C:\\path@example.com"] == 4
    assert math.isnan(fam["n@example.com"])
    assert fam["i@example.com"] == -math.inf


def test_repair_leaves_strict_json_alone() -> None:
    strict = '{"a": {"type": "gauge", "value": {"k": {"v\\"q": 1.0}}}}'
    assert repair(strict) == strict


def test_wanted_filter_and_odd_entries() -> None:
    body = (
        '{"scheduled_count": {"type": "gauge", "value": {"queue": {"a": 1, "b": "x"}}},'
        ' "lua_count": {"type": "gauge", "value": 1}, "ready_count": 5}'
    )
    ms = parse_json(body, WANTED)
    assert ms.family("scheduled_count") == {"a": 1}
    assert ms.skipped == 1
    assert ms.garbage == 2


def test_garbage_body_raises_parse_error() -> None:
    with pytest.raises(MetricsParseError):
        parse_json(b"\x00\xff garbage {{{")
    with pytest.raises(MetricsParseError):
        parse_json(b"[1, 2]")


async def test_simulator_text_and_json_agree_with_quirks(start_cluster) -> None:
    import aiohttp

    sim = await start_cluster(quirks=frozenset({"trailing-comma", "unescaped-labels"}))
    node = sim.nodes[0]
    node.model.advance(20)
    async with aiohttp.ClientSession() as http:
        async with http.get(node.url + "/metrics") as resp:
            text = await resp.read()
        async with http.get(node.url + "/metrics.json") as resp:
            js = await resp.read()
    a, b = parse_text(text, WANTED), parse_json(js, WANTED)
    assert a.garbage == b.garbage == 0
    assert a.families == b.families
    assert a.value("total_messages_delivered", "smtp_client") == node.truth()["totals"]["delivered"]
