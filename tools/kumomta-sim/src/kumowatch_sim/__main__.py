"""``kumowatch-sim``: run N simulated KumoMTA nodes until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from kumowatch_sim.cluster import SimCluster
from kumowatch_sim.config import SimConfig, parse_header
from kumowatch_sim.errors import SimError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kumowatch-sim", description=__doc__)
    p.add_argument("--nodes", type=int, default=1, help="number of kumod nodes (default 1)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="first port; node i uses port+i")
    p.add_argument(
        "--scenario",
        default="steady",
        help="steady|bounce-spike|queue-buildup|delivery-stall|node-down|restart|big|FILE",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rate", type=float, default=50.0, help="messages/second received per node")
    p.add_argument("--queues", type=int, default=None, help="pre-populated scheduled queues")
    p.add_argument("--log-hook-url", default=None)
    p.add_argument("--log-hook-mode", choices=("single", "batch"), default="single")
    p.add_argument("--log-hook-batch-size", type=int, default=100)
    p.add_argument(
        "--log-hook-header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra header on log hook POSTs (repeatable)",
    )
    p.add_argument("--quirks", default="", help="comma list: trailing-comma,unescaped-labels")
    p.add_argument("--tick", type=float, default=0.5, help="seconds between model steps")
    p.add_argument("--prune-after", type=float, default=120.0, help="idle seconds before pruning")
    return p


def config_from_args(argv: Sequence[str] | None = None) -> SimConfig:
    args = build_parser().parse_args(argv)
    headers = dict(parse_header(h) for h in args.log_hook_header)
    return SimConfig(
        nodes=args.nodes,
        host=args.host,
        port=args.port,
        scenario=args.scenario,
        seed=args.seed,
        rate=args.rate,
        queues=args.queues,
        tick=args.tick,
        prune_after=args.prune_after,
        log_hook_url=args.log_hook_url,
        log_hook_mode=args.log_hook_mode,
        log_hook_batch_size=args.log_hook_batch_size,
        log_hook_headers=headers,
        quirks=frozenset(q.strip() for q in args.quirks.split(",") if q.strip()),
    )


async def run(config: SimConfig) -> None:
    """Start the cluster, print one line per node, and wait for SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SimCluster(config) as sim:
        for node in sim.nodes:
            print(f"{node.name} {node.url} node_id={node.model.node_id}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = config_from_args(argv)
    except (ValidationError, ValueError, SimError) as exc:
        print(f"kumowatch-sim: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(run(config))
    except SimError as exc:
        print(f"kumowatch-sim: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"kumowatch-sim: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
