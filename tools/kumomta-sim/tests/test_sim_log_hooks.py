"""Log hooks POST KumoMTA JSON records to a real receiver, singly or in retried batches."""

from __future__ import annotations

from sim_helpers import Receiver, StartCluster

from kumowatch_sim import LogRecord


async def test_single_mode_posts_one_valid_record_per_request(
    start_cluster: StartCluster, receiver: Receiver
) -> None:
    node = (
        await start_cluster(
            log_hook_url=receiver.url,
            log_hook_headers={"Authorization": "Bearer s3cret"},
            rate=20,
        )
    ).nodes[0]
    node.apply({"bounce_ratio": 0.2, "transfail_ratio": 0.2})
    node.model.advance(10)
    assert node.hook is not None
    assert await node.hook.wait_idle(10)
    assert all(isinstance(body, dict) for body in receiver.bodies)
    records = [LogRecord.model_validate(body) for body in receiver.bodies]
    assert len(records) == sum(node.truth()["records"].values())
    kinds = {r.type for r in records}
    assert {"Reception", "Delivery", "Bounce", "TransientFailure"} <= kinds
    assert all(h["Authorization"] == "Bearer s3cret" for h in receiver.headers)
    assert all(h["Content-Type"] == "application/json" for h in receiver.headers)
    reception = next(r for r in records if r.type == "Reception")
    assert reception.site == ""
    assert reception.reception_protocol in {"ESMTP", "HTTP"}
    delivery = next(r for r in records if r.type == "Delivery")
    assert delivery.site.endswith("@smtp_client")
    assert delivery.response.code == 250
    assert delivery.egress_pool in {"pool1", "pool2"}
    bounce = next(r for r in records if r.type == "Bounce")
    assert bounce.bounce_classification != "Uncategorized"
    assert bounce.response.enhanced_code is not None
    assert bounce.response.enhanced_code.class_ == 5
    assert str(delivery.nodeid) == node.model.node_id


async def test_single_mode_drops_records_the_receiver_rejects(
    start_cluster: StartCluster, receiver: Receiver
) -> None:
    receiver.fail_first = 3
    receiver.fail_status = 500
    node = (await start_cluster(log_hook_url=receiver.url, log_hook_concurrency=1)).nodes[0]
    node.model.advance(1)
    assert node.hook is not None
    assert await node.hook.wait_idle(10)
    stats = node.hook.stats
    assert stats.failed == 3
    assert stats.delivered == stats.submitted - 3
    assert len(receiver.records) == stats.delivered


async def test_batch_mode_retries_after_500_and_delivers_every_record_once(
    start_cluster: StartCluster, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    node = (
        await start_cluster(
            log_hook_url=receiver.url,
            log_hook_mode="batch",
            log_hook_batch_size=50,
            log_hook_concurrency=1,
            log_hook_backoff=0.01,
        )
    ).nodes[0]
    node.model.advance(5)
    assert node.hook is not None
    assert await node.hook.wait_idle(10)
    assert all(isinstance(body, list) and len(body) <= 50 for body in receiver.bodies)
    assert any(len(body) > 1 for body in receiver.bodies)
    ids = [(r["type"], r["id"], r["event_time"]) for r in receiver.records]
    emitted = sum(node.truth()["records"].values())
    assert len(ids) == emitted
    assert len(set(ids)) == emitted
    assert node.hook.stats.retries >= 2
    for record in receiver.records:
        LogRecord.model_validate(record)


async def test_hook_backlog_is_exported_and_overflow_is_counted(
    start_cluster: StartCluster, receiver: Receiver
) -> None:
    node = (
        await start_cluster(
            log_hook_url=receiver.url, log_hook_mode="batch", log_hook_queue_size=10
        )
    ).nodes[0]
    node.model.advance(5)  # synchronous: the sender cannot run, so the queue overflows
    assert node.hook is not None
    assert node.hook.stats.dropped_overflow > 0
    assert node.backlog() == {"webhook": 10}
    truth = node.truth()
    assert truth["log_hook"]["dropped_overflow"] == node.hook.stats.dropped_overflow
    assert await node.hook.wait_idle(10)
    assert len(receiver.records) == 10
