"""Prometheus + Alertmanager (Debian's packages) as plain child processes, for the comparison.

Each stack gets its own temporary config and data directories and free loopback ports; no
systemd. ``ensure_installed()`` installs the packages with apt-get when the binaries are absent.
Rules are fixed at start: a reload (``POST /-/reload``) also reloads Prometheus's Alertmanager
targets, and an alert that fires during that moment is only re-sent after
``--rules.alert.resend-delay`` (1 m), so the harness never reloads mid-run. Each trial instead
raises an alert with new labels (``group_by: [alertname, node, provider, queue]``), a new group.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import yaml

from bench.procs import Child, ProcessGroup, free_port, wait_http

PROMETHEUS: Final = "prometheus"
ALERTMANAGER: Final = "prometheus-alertmanager"


def ensure_installed(log: Any = print) -> tuple[str, str]:
    """Paths of the Prometheus and Alertmanager binaries, installing Debian's packages if absent."""
    prom, am = shutil.which(PROMETHEUS), shutil.which(ALERTMANAGER)
    if prom and am:
        return prom, am
    log("installing prometheus and prometheus-alertmanager with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)  # noqa: S607
    subprocess.run(  # noqa: S603
        ["apt-get", "install", "-y", "--no-install-recommends", PROMETHEUS, ALERTMANAGER],  # noqa: S607
        check=True,
        env=env,
        capture_output=True,
    )
    prom, am = shutil.which(PROMETHEUS), shutil.which(ALERTMANAGER)
    if not (prom and am):
        raise RuntimeError("prometheus/alertmanager still missing after apt-get install")
    return prom, am


@dataclass(frozen=True, slots=True)
class PromTimers:
    """Scrape/evaluation intervals and Alertmanager timers; None keeps the product default."""

    scrape_interval: str | None = None
    evaluation_interval: str | None = None
    group_wait: str | None = None
    group_interval: str | None = None

    @classmethod
    def equal(cls, seconds: int = 1) -> PromTimers:
        s = f"{seconds}s"
        return cls(s, s, "0s", s)

    @classmethod
    def defaults(cls) -> PromTimers:
        """Prometheus scrape/eval 1m, Alertmanager group_wait 30s, group_interval 5m."""
        return cls()


@dataclass(frozen=True, slots=True)
class PromRule:
    """One alerting rule: PromQL expression and its static labels."""

    name: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class PromStack:
    """Prometheus scraping ``targets`` ({node: host:port}) and alerting to a webhook URL."""

    targets: dict[str, str]
    webhook_url: str
    timers: PromTimers = field(default_factory=PromTimers)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kw-prom-")))
    prom_port: int = field(default_factory=free_port)
    am_port: int = field(default_factory=free_port)
    group: ProcessGroup = field(default_factory=ProcessGroup)
    prometheus: Child | None = None
    alertmanager: Child | None = None
    rules: dict[str, PromRule] = field(default_factory=dict)

    @property
    def prom_url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    @property
    def am_url(self) -> str:
        return f"http://127.0.0.1:{self.am_port}"

    def _prom_config(self) -> dict[str, Any]:
        glob: dict[str, Any] = {}
        if self.timers.scrape_interval:
            glob["scrape_interval"] = self.timers.scrape_interval
            glob["scrape_timeout"] = self.timers.scrape_interval
        if self.timers.evaluation_interval:
            glob["evaluation_interval"] = self.timers.evaluation_interval
        return {
            "global": glob,
            "rule_files": [str(self.workdir / "rules.yml")],
            "alerting": {
                "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.am_port}"]}]}]
            },
            "scrape_configs": [
                {
                    "job_name": "kumomta",
                    "static_configs": [
                        {"targets": [hostport], "labels": {"node": node}}
                        for node, hostport in self.targets.items()
                    ],
                }
            ],
        }

    def _am_config(self) -> dict[str, Any]:
        route: dict[str, Any] = {
            "receiver": "bench",
            "group_by": ["alertname", "node", "provider", "queue"],
        }
        if self.timers.group_wait:
            route["group_wait"] = self.timers.group_wait
        if self.timers.group_interval:
            route["group_interval"] = self.timers.group_interval
        return {
            "route": route,
            "receivers": [
                {
                    "name": "bench",
                    "webhook_configs": [{"url": self.webhook_url, "send_resolved": True}],
                }
            ],
        }

    def _rules_file(self) -> dict[str, Any]:
        return {
            "groups": [
                {
                    "name": "kumowatch-bench",
                    "rules": [
                        {
                            "alert": r.name,
                            "expr": r.expr,
                            "labels": dict(r.labels),
                        }
                        for r in self.rules.values()
                    ],
                }
            ]
        }

    def _write(self, name: str, data: dict[str, Any]) -> Path:
        path = self.workdir / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def start(self) -> PromStack:
        prom_bin, am_bin = ensure_installed()
        self._write("rules.yml", self._rules_file())
        prom_cfg = self._write("prometheus.yml", self._prom_config())
        am_cfg = self._write("alertmanager.yml", self._am_config())
        (self.workdir / "tsdb").mkdir(exist_ok=True)
        (self.workdir / "am").mkdir(exist_ok=True)
        self.alertmanager = self.group.add(
            Child(
                "alertmanager",
                [
                    am_bin,
                    f"--config.file={am_cfg}",
                    f"--storage.path={self.workdir / 'am'}",
                    f"--web.listen-address=127.0.0.1:{self.am_port}",
                    "--cluster.listen-address=",
                ],
            ).start()
        )
        self.prometheus = self.group.add(
            Child(
                "prometheus",
                [
                    prom_bin,
                    f"--config.file={prom_cfg}",
                    f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.prom_port}",
                    "--web.enable-lifecycle",
                ],
            ).start()
        )
        wait_http(self.am_url + "/-/ready", 60.0, self.alertmanager.proc)
        wait_http(self.prom_url + "/-/ready", 60.0, self.prometheus.proc)
        return self

    def add_rule(self, rule: PromRule) -> None:
        """Add a rule (before ``start``)."""
        self.rules[rule.name] = rule

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.prom_url + "/api/v1/query", params={"query": expr}) as resp,
        ):
            data = await resp.json()
        return list(data.get("data", {}).get("result", []))

    async def alerts(self) -> list[tuple[str, str, str]]:
        """(alertname, trial, state) of Prometheus's active alerts."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.prom_url + "/api/v1/alerts") as resp,
        ):
            data = await resp.json()
        return [
            (a["labels"].get("alertname", ""), a["labels"].get("trial", ""), a.get("state", ""))
            for a in data.get("data", {}).get("alerts", [])
        ]

    def peak_rss(self) -> dict[str, int | None]:
        return {
            "prometheus": self.prometheus.peak_rss_kib() if self.prometheus else None,
            "alertmanager": self.alertmanager.peak_rss_kib() if self.alertmanager else None,
        }

    def stop(self) -> None:
        self.group.stop_all()
        shutil.rmtree(self.workdir, ignore_errors=True)
