"""The benchmark table: rows with kumowatch's figure beside its peer or target, as markdown."""

from __future__ import annotations

import datetime as dt
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("Benchmark", "Setting", "kumowatch", "Peer / target", "Ratio / verdict", "Notes")


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table."""

    benchmark: str
    setting: str
    kumowatch: str
    peer: str
    ratio: str = ""
    notes: str = ""

    def cells(self) -> tuple[str, ...]:
        return (self.benchmark, self.setting, self.kumowatch, self.peer, self.ratio, self.notes)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(rows: Sequence[Row]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    import os

    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def write_doc(
    path: Path, command: str, rows: Sequence[Row], notes: Sequence[str], elapsed: float
) -> None:
    """docs/benchmarks.md: the command, the date, the machine, the table and the notes."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench.py`; do not edit by hand. Re-run with the command below.",
        "",
        f"- Command: `{command}`",
        f"- Date: {now}",
        f"- Machine: {machine()}",
        f"- Run time: {elapsed:.0f} s",
        "",
        markdown(rows),
        "",
        "## How to read it",
        "",
        *[f"- {n}" for n in notes],
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text))
