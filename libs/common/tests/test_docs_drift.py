from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_committed_subject_docs_match_what_the_models_generate() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_catalogued_subject_names_its_payload_schema() -> None:
    from kumowatch_common import catalog

    doc = catalog.render_asyncapi()
    for channel in doc["channels"].values():
        (message,) = channel["messages"].values()
        name = message["$ref"].rsplit("/", 1)[-1]
        assert name in doc["components"]["schemas"]
