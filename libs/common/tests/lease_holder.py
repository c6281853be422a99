"""A tiny lease holder process for the two-process lease test.

Usage: python lease_holder.py NATS_URL HOLDER TTL OUT_FILE ITEM [ITEM ...]
Writes the items it owns as JSON to OUT_FILE on every change.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import nats

from kumowatch_common import streams
from kumowatch_common.leases import LeaseManager


async def main() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    url, holder, ttl, out, *items = sys.argv[1:]
    nc = await nats.connect(url)
    kv = (await streams.provision(nc.jetstream(), streams.Retention(lease_ttl=float(ttl))))[
        streams.BUCKET_LEASES
    ]
    path = Path(out)

    def changed(owned: frozenset[str]) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(owned)))
        tmp.replace(path)

    changed(frozenset())
    mgr = LeaseManager(kv, "test", holder, float(ttl), items=lambda: items, on_change=changed)
    await mgr.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main())
