"""The Prometheus text parser: the reference sample, KumoMTA's label forms, quirks and garbage."""

from __future__ import annotations

import math

from poller_samples import sample
from prometheus_client.parser import text_string_to_metric_families

from kumowatch_poller.metricset import LABEL_SEP, WANTED
from kumowatch_poller.promtext import parse_text


def test_reference_sample_matches_prometheus_client() -> None:
    body = sample("01_metrics_text_excerpt.prom")
    ours = parse_text(body)
    theirs = {
        (f.name, tuple(s.labels.values())): s.value
        for f in text_string_to_metric_families(body)
        for s in f.samples
    }
    flat = {
        (name, (key,) if key else ()): value
        for name, fam in ours.families.items()
        for key, value in fam.items()
    }
    assert flat == theirs
    assert ours.series == 18
    assert ours.garbage == 0
    assert ours.value("disk_free_percent", "log dir /var/log/kumomta") == 60
    assert ours.value("memory_usage") == 320516096


def test_wanted_families_only_are_kept() -> None:
    body = sample("01_metrics_text_excerpt.prom")
    ms = parse_text(body, WANTED)
    assert "disk_free_bytes" not in ms.families
    assert ms.family("disk_free_percent")["meta spool"] == 60
    assert ms.skipped == 11
    assert ms.series == 7


def test_kumomta_service_labels_with_pipes_arrows_and_colons() -> None:
    body = (
        'ready_count{service="smtp_client:unspecified->(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.'
        'google.com@smtp_client"} 46\n'
        'total_messages_delivered{service="smtp_client"} 1000\n'
        'total_messages_received{service="esmtp_listener:0.0.0.0:25"} 12\n'
    )
    ms = parse_text(body)
    key = "smtp_client:unspecified->(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com@smtp_client"
    assert ms.value("ready_count", key) == 46
    assert ms.value("total_messages_delivered", "smtp_client") == 1000
    assert ms.value("total_messages_received", "esmtp_listener:0.0.0.0:25") == 12


def test_several_labels_with_kumomta_and_prometheus_separators() -> None:
    body = (
        'x{provider="gmail", source="ip-1", pool="pool1"} 250\n'
        'y{provider="gmail",source="ip-1",pool="pool1",} 7\n'
    )
    ms = parse_text(body)
    key = LABEL_SEP.join(["pool=pool1", "provider=gmail", "source=ip-1"])
    assert ms.value("x", key) == 250
    assert ms.value("y", key) == 7


def test_escaped_and_unescaped_quotes_in_label_values() -> None:
    body = (
        'scheduled_count{queue="say \\"hi\\":tenant@example.com"} 3\n'
        'scheduled_count{queue="bad"quote:tenant@example.com"} 4\n'
        'scheduled_count{queue="back\\\\slash@example.com"} 5\n'
        'scheduled_count{queue="brace}in{value@example.com"} 6\n'
        'scheduled_count{queue="comma\\",x@example.com"} 7\n'
        'two{a="x"y", b="z"} 8\n'
    )
    ms = parse_text(body)
    fam = ms.family("scheduled_count")
    assert fam['say "hi":tenant@example.com'] == 3
    assert fam['bad"quote:tenant@example.com'] == 4
    assert fam["back\\slash@example.com"] == 5
    assert fam["brace}in{value@example.com"] == 6
    assert fam['comma",x@example.com'] == 7
    assert ms.value("two", LABEL_SEP.join(['a=x"y', "b=z"])) == 8
    assert ms.garbage == 0


def test_nan_and_infinities_and_timestamps() -> None:
    ms = parse_text('a NaN\nb +Inf\nc -Inf\nd{k="v"} 1.5e3 1700000000000\ne Inf\n')
    assert math.isnan(ms.value("a") or 0.0)
    assert ms.value("b") == math.inf
    assert ms.value("c") == -math.inf
    assert ms.value("d", "v") == 1500
    assert ms.value("e") == math.inf


def test_garbage_lines_are_counted_and_skipped() -> None:
    body = (
        "# HELP ok fine\n"
        "ok 1\n"
        "\x00\x01\x02\n"
        "novalue\n"
        'broken{k="v" 3\n'
        "worse{k=v} 3\n"
        "bad value\n"
        'ok2{k="v"} 12abc\n'
        "   \n"
        "ok3 2\r\n"
    )
    ms = parse_text(body)
    assert ms.value("ok") == 1
    assert ms.value("ok3") == 2
    assert ms.garbage == 6
    assert ms.series == 2


def test_garbage_bytes_never_raise() -> None:
    body = bytes(range(256)) * 40
    ms = parse_text(body, WANTED)
    assert ms.series == 0


def test_last_duplicate_series_wins_and_empty_labels_are_plain() -> None:
    ms = parse_text('m{k="a"} 1\nm{k="a"} 2\nn{} 5\n')
    assert ms.value("m", "a") == 2
    assert ms.value("n") == 5
