"""The ingest benchmark runs end to end and reports every figure."""

from __future__ import annotations

from kumowatch_poller.bench import ingest_rate


async def test_ingest_rate_reports_the_bare_loop_and_the_publisher_beside_the_ingest(
    nats_server,
) -> None:
    result = await ingest_rate(nats_server.url, records=300, batch=50, senders=2)
    for key in ("ingest_records_per_s", "bare_publish_records_per_s", "publisher_records_per_s"):
        assert result[key] > 0, key
    assert result["ratio"] > 0
    assert result["ratio_to_publisher"] > 0
