"""REST: the seed's alert and rule endpoints (same paths, bodies, shapes) plus single rule and alert."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kumowatch_common import rules, streams, subjects
from kumowatch_common.clock import now_ms
from kumowatch_common.events import Acknowledgement, Alert, AlertEvent, AlertRule
from kumowatch_gateway import push
from kumowatch_gateway.errors import BadRequest, FieldProblem, NotFound
from kumowatch_gateway.http import (
    Route,
    json_response,
    parse_body,
    parse_query,
    principal,
    read_json,
)
from kumowatch_gateway.keys import BACKEND, CLOCK, HUB, MODEL, SETTINGS
from kumowatch_gateway.models import (
    AcknowledgeRequest,
    AcknowledgeResponse,
    AlertDetail,
    AlertsQuery,
    RuleResponse,
    SuccessMessage,
    ToggleRequest,
    ToggleResponse,
)

RULE_NOT_FOUND = "Rule not found"
ALERT_NOT_FOUND = "Alert not found"


def _max_window_ms(request: web.Request) -> int:
    return int(request.app[SETTINGS].snapshot_retention_seconds * 1000)


def _validate(request: web.Request, data: Any) -> AlertRule:
    if not isinstance(data, dict):
        raise BadRequest("Invalid rule configuration", [FieldProblem("(body)", "a JSON object")])
    rule, errors = rules.parse_rule(data, max_window_ms=_max_window_ms(request))
    if rule is None:
        raise BadRequest(
            "Invalid rule configuration", [FieldProblem(e.field, e.message) for e in errors]
        )
    return rule


def _key_or_404(rule_id: str) -> str:
    if not subjects.TOKEN_RE.match(rule_id) or len(rule_id) > 100:
        raise NotFound(RULE_NOT_FOUND)
    return rule_id


async def _store(request: web.Request, rule: AlertRule, revision: int) -> None:
    action = request.app[MODEL].apply_rule(rule, revision)
    if action is not None:
        push.rule_changed(request.app[HUB], rule, action)


# --------------------------------------------------------------------------- rules


async def list_rules(request: web.Request) -> web.Response:
    """The seed's plain array of rules."""
    return json_response(request.app[MODEL].rule_list())


async def get_rule(request: web.Request) -> web.Response:
    entry = request.app[MODEL].rules.get(request.match_info["id"])
    if entry is None:
        raise NotFound(RULE_NOT_FOUND)
    return json_response(entry.rule)


async def add_rule(request: web.Request) -> web.Response:
    """The seed's "add or update": ``{success: true, rule}``."""
    rule = _validate(request, await read_json(request))
    now = now_ms(request.app[CLOCK])
    existing = request.app[MODEL].rules.get(rule.id)
    rule = rule.model_copy(
        update={
            "createdAt": existing.rule.createdAt if existing else (rule.createdAt or now),
            "updatedAt": now,
            "builtin": existing.rule.builtin if existing else False,
        }
    )
    revision = await request.app[BACKEND].put(streams.BUCKET_RULES, rule.id, rule)
    await _store(request, rule, revision)
    return json_response(RuleResponse(success=True, rule=rule))


async def _update(request: web.Request, merge: bool) -> web.Response:
    rule_id = _key_or_404(request.match_info["id"])
    data = await read_json(request)
    if not isinstance(data, dict):
        raise BadRequest("Invalid rule configuration", [FieldProblem("(body)", "a JSON object")])
    if "id" in data and data["id"] != rule_id:
        raise BadRequest(
            "Invalid rule configuration", [FieldProblem("id", "must match the rule id in the path")]
        )
    now = now_ms(request.app[CLOCK])

    def change(current: AlertRule) -> AlertRule:
        base = current.model_dump(mode="json", by_alias=True) if merge else {}
        doc = _deep_merge(base, data) if merge else dict(data)
        doc["id"] = rule_id
        for fixed in ("schema_version", "createdAt", "updatedAt", "builtin"):
            doc.pop(fixed, None)
        rule = _validate(request, doc)
        return rule.model_copy(
            update={"createdAt": current.createdAt, "updatedAt": now, "builtin": current.builtin}
        )

    try:
        rule, revision = await request.app[BACKEND].modify(
            streams.BUCKET_RULES, rule_id, AlertRule, change
        )
    except NotFound:
        raise NotFound(RULE_NOT_FOUND) from None
    await _store(request, rule, revision)
    return json_response(RuleResponse(success=True, rule=rule))


async def replace_rule(request: web.Request) -> web.Response:
    return await _update(request, merge=False)


async def patch_rule(request: web.Request) -> web.Response:
    return await _update(request, merge=True)


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


async def delete_rule(request: web.Request) -> web.Response:
    rule_id = _key_or_404(request.match_info["id"])
    backend = request.app[BACKEND]
    current = await backend.get(streams.BUCKET_RULES, rule_id, AlertRule)
    if current is None:
        raise NotFound(RULE_NOT_FOUND)
    await backend.delete(streams.BUCKET_RULES, rule_id)
    removed = request.app[MODEL].remove_rule(rule_id, current[1])
    if removed is not None:
        push.rule_changed(request.app[HUB], removed, "deleted")
    return json_response(SuccessMessage(success=True, message="Rule removed"))


async def toggle_rule(request: web.Request) -> web.Response:
    """The seed's toggle; ``enabled`` must be a boolean now."""
    rule_id = _key_or_404(request.match_info["id"])
    body = await parse_body(request, ToggleRequest)
    now = now_ms(request.app[CLOCK])
    try:
        rule, revision = await request.app[BACKEND].modify(
            streams.BUCKET_RULES,
            rule_id,
            AlertRule,
            lambda r: r.model_copy(update={"enabled": body.enabled, "updatedAt": now}),
        )
    except NotFound:
        raise NotFound(RULE_NOT_FOUND) from None
    await _store(request, rule, revision)
    message = "Rule enabled" if body.enabled else "Rule disabled"
    return json_response(ToggleResponse(success=True, message=message, rule=rule))


# --------------------------------------------------------------------------- alerts


async def list_alerts(request: web.Request) -> web.Response:
    """The seed's plain array of alerts, newest first, acknowledgements merged."""
    q = parse_query(request, AlertsQuery)
    records = request.app[MODEL].alerts.query(
        acknowledged=q.acknowledged,
        status=q.status,
        rule_id=q.ruleId,
        severity=q.severity,
        offset=q.offset,
        limit=q.limit,
    )
    return json_response(b"[" + b",".join(r.json() for r in records) + b"]")


async def get_alert(request: web.Request) -> web.Response:
    model = request.app[MODEL]
    rec = model.alerts.get(request.match_info["id"])
    if rec is None:
        raise NotFound(ALERT_NOT_FOUND)
    rule = rec.rule
    if rule is None and (entry := model.rules.get(rec.alert.ruleId)) is not None:
        rule = entry.rule
    outcomes = model.notification_page(alert_id=rec.alert.id, limit=1000)
    return json_response(AlertDetail(alert=rec.merged(), rule=rule, notifications=outcomes))


async def acknowledge(request: web.Request) -> web.Response:
    """The seed's acknowledge, with an optional note; the author comes from the token."""
    body = await parse_body(request, AcknowledgeRequest, required=False)
    app = request.app
    model = app[MODEL]
    rec = model.alerts.get(request.match_info["id"])
    if rec is None:
        raise NotFound(ALERT_NOT_FOUND)
    if rec.ack is not None or rec.alert.acknowledged:
        return json_response(
            AcknowledgeResponse(success=True, message="Alert acknowledged", alert=rec.merged())
        )
    who = principal(request)
    ack = Acknowledgement(
        alertId=rec.alert.id, by=who.username, at=now_ms(app[CLOCK]), note=body.note
    )
    await app[BACKEND].put(streams.BUCKET_ACKS, rec.alert.id, ack)
    model.alerts.set_ack(ack)
    alert = rec.merged()
    rule = rec.rule or (e.rule if (e := model.rules.get(alert.ruleId)) else None)
    if rule is not None and subjects.TOKEN_RE.match(alert.ruleId):
        await app[BACKEND].publish(
            subjects.alert(alert.ruleId, "acknowledged"),
            AlertEvent(event="acknowledged", alert=alert, rule=rule),
            msg_id=f"{alert.id}:ack",
        )
    return json_response(
        AcknowledgeResponse(success=True, message="Alert acknowledged", alert=alert)
    )


ROUTES: list[Route] = [
    Route("GET", "/api/alerts/rules", list_rules, "read", "List alert rules (seed)", "rules",
          responses={200: list[AlertRule]}),
    Route("POST", "/api/alerts/rules", add_rule, "admin", "Add or update a rule (seed)", "rules",
          body=AlertRule, responses={200: RuleResponse}),
    Route("GET", "/api/alerts/rules/{id}", get_rule, "read", "Get one rule", "rules",
          responses={200: AlertRule}),
    Route("PUT", "/api/alerts/rules/{id}", replace_rule, "admin", "Replace a rule", "rules",
          body=AlertRule, responses={200: RuleResponse}),
    Route("PATCH", "/api/alerts/rules/{id}", patch_rule, "admin",
          "Update some fields of a rule (merge patch)", "rules",
          body=AlertRule, responses={200: RuleResponse}),
    Route("DELETE", "/api/alerts/rules/{id}", delete_rule, "admin", "Remove a rule (seed)",
          "rules", responses={200: SuccessMessage}),
    Route("PATCH", "/api/alerts/rules/{id}/toggle", toggle_rule, "admin",
          "Enable or disable a rule (seed)", "rules", body=ToggleRequest,
          responses={200: ToggleResponse}),
    Route("GET", "/api/alerts", list_alerts, "read", "List alerts, newest first (seed)", "alerts",
          query=AlertsQuery, responses={200: list[Alert]}),
    Route("GET", "/api/alerts/{id}", get_alert, "read",
          "Get one alert with its notification outcomes", "alerts",
          responses={200: AlertDetail}),
    Route("POST", "/api/alerts/{id}/acknowledge", acknowledge, "operate",
          "Acknowledge an alert, with an optional note (seed)", "alerts",
          body=AcknowledgeRequest, body_required=False, responses={200: AcknowledgeResponse}),
]  # fmt: skip
