"""Render docs/subjects.md and docs/asyncapi.yaml from the models; ``--check`` fails on drift."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from kumowatch_common import catalog

ROOT = Path(__file__).resolve().parent.parent


def rendered() -> dict[Path, str]:
    """Every generated file and its content."""
    asyncapi = (
        "# "
        + catalog.HEADER.strip("<!-> ")
        + "\n"
        + yaml.safe_dump(catalog.render_asyncapi(), sort_keys=False, allow_unicode=True, width=100)
    )
    return {
        ROOT / "docs" / "subjects.md": catalog.render_markdown(),
        ROOT / "docs" / "asyncapi.yaml": asyncapi,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the files differ")
    args = parser.parse_args()
    stale = []
    for path, text in rendered().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(
            "generated docs are stale, run `make docs`: "
            + ", ".join(str(p.relative_to(ROOT)) for p in stale),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
