"""The OpenAPI 3.1 document, generated from the route table and the pydantic models."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter

from kumowatch_gateway.http import Route
from kumowatch_gateway.models import ErrorResponse

REF: Final = "#/components/schemas/{model}"
_PARAM_RE: Final = re.compile(r"\{(\w+)\}")
_STATUS_TEXT: Final = {
    200: "OK",
    201: "Created",
    400: "Invalid request: the body names each bad field",
    401: "Missing or invalid token",
    403: "The token's roles do not allow this",
    404: "Not found",
    409: "Conflict with a concurrent change",
    413: "Request body too large",
    503: "NATS not reachable",
    504: "No notifier answered",
}


def build(routes: Sequence[Route], *, title: str, version: str) -> dict[str, Any]:
    """The whole document."""
    adapters: dict[Any, TypeAdapter[Any]] = {}

    def adapter(tp: Any) -> TypeAdapter[Any]:
        if tp not in adapters:
            adapters[tp] = TypeAdapter(tp)
        return adapters[tp]

    inputs: list[tuple[Any, Any, TypeAdapter[Any]]] = []
    for r in routes:
        if r.body is not None:
            inputs.append(((r.body, "validation"), "validation", adapter(r.body)))
        for tp in r.responses.values():
            if tp is not None:
                inputs.append(((tp, "serialization"), "serialization", adapter(tp)))
    inputs.append(((ErrorResponse, "serialization"), "serialization", adapter(ErrorResponse)))
    unique = list({key: (key, mode, ad) for key, mode, ad in inputs}.values())
    mapping, defs = TypeAdapter.json_schemas(unique, ref_template=REF)
    error_schema = mapping[((ErrorResponse, "serialization"), "serialization")]

    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "operationId": r.operation_id or _op_id(r),
            "summary": r.summary,
            "tags": [r.tag],
            "parameters": _path_params(r.path) + (_query_params(r.query) if r.query else []),
            "responses": {},
        }
        if r.access != "public":
            op["security"] = [{"bearerAuth": []}]
        if r.body is not None:
            op["requestBody"] = {
                "required": r.body_required,
                "content": {
                    "application/json": {"schema": mapping[((r.body, "validation"), "validation")]}
                },
            }
        for status, tp in r.responses.items():
            resp: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "OK")}
            if tp is not None:
                schema = mapping[((tp, "serialization"), "serialization")]
                resp["content"] = {"application/json": {"schema": schema}}
            op["responses"][str(status)] = resp
        errors = [400] if (r.body is not None or r.query is not None) else []
        if r.access != "public":
            errors += [401, 403]
        if _PARAM_RE.search(r.path):
            errors.append(404)
        if r.body is not None:
            errors.append(413)
        if r.access in ("operate", "admin"):
            errors.append(503)
        for status in errors:
            op["responses"].setdefault(
                str(status),
                {
                    "description": _STATUS_TEXT[status],
                    "content": {"application/json": {"schema": error_schema}},
                },
            )
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "kumowatch gateway: REST API over the NATS read model. Every /api route "
            "needs a JWT (Authorization: Bearer). Any valid token reads; operator or admin "
            "acknowledges and silences; admin changes rules and sends test notifications.",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _op_id(r: Route) -> str:
    parts = [p for p in re.split(r"[/{}:]+", r.path) if p and p != "api"]
    return r.method.lower() + "".join(p[:1].upper() + p[1:] for p in parts)


def _path_params(path: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        }
        for name in _PARAM_RE.findall(path)
    ]


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = _drop_null(dict(prop))
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if "description" in prop:
            param["description"] = prop.pop("description")
        prop.pop("title", None)
        out.append(param)
    return out


def _drop_null(prop: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter is absent, never ``null``: drop the null branch."""
    variants = prop.get("anyOf")
    if isinstance(variants, list):
        rest = [v for v in variants if v.get("type") != "null"]
        if len(rest) == 1:
            del prop["anyOf"]
            prop.update(rest[0])
        else:
            prop["anyOf"] = rest
    if prop.get("default") is None:
        prop.pop("default", None)
    return prop
