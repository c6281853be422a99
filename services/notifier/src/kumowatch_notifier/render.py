"""Message bodies for each channel, from one :class:`~.notification.Notification`.

Everything that comes from a rule or an alert (names, descriptions, messages, labels) is escaped for
the medium: ``html.escape`` for the email's HTML part, Slack's ``& < >`` entities for Slack text,
JSON encoding for webhooks. Header values lose CR/LF so a rule name cannot add headers.
"""

from __future__ import annotations

import html
from typing import Any, Final

from kumowatch_common.events import Severity
from kumowatch_notifier.notification import (
    Notification,
    condition_text,
    format_time,
    iso_time,
    threshold_text,
)

SOURCE: Final = "kumomta-alert-system"
PAYLOAD_VERSION: Final = "1.0.0"
SLACK_USERNAME: Final = "KumoMTA Alert System"
SLACK_ICON: Final = ":envelope:"
SLACK_FOOTER: Final = "KumoWatch (KumoMTA Alert System)"

EMAIL_COLOURS: Final[dict[Severity, str]] = {
    "info": "#3498db",
    "warning": "#f39c12",
    "error": "#e74c3c",
    "critical": "#c0392b",
}
SLACK_COLOURS: Final[dict[Severity, str]] = {
    "info": "#36a64f",
    "warning": "#ff9900",
    "error": "#ff0000",
    "critical": "#990000",
}
SLACK_EMOJI: Final[dict[Severity, str]] = {
    "info": "ℹ️",
    "warning": "⚠️",
    "error": "🔴",
    "critical": "🚨",
}
RESOLVED_COLOUR: Final = "#2eb886"
RESOLVED_EMOJI: Final = "✅"


def header_safe(text: str) -> str:
    """One line, for a mail header."""
    return " ".join(text.split())


# --------------------------------------------------------------------------- email


def email_subject(n: Notification) -> str:
    """``[SEVERITY] <rule name>``; resolved and summaries say so."""
    sev = n.alert.severity.upper()
    name = n.rule.name
    if n.kind == "resolved":
        return header_safe(f"[RESOLVED] [{sev}] {name}")
    if n.kind == "summary" and n.note is not None:
        return header_safe(f"[{sev}] {name}: {n.note.text()}")
    return header_safe(f"[{sev}] {name}")


def _rows(n: Notification) -> list[tuple[str, str]]:
    a, r = n.alert, n.rule
    rows = [
        ("Rule", r.name),
        ("Status", "RESOLVED" if n.kind == "resolved" else a.status.upper()),
        ("Severity", a.severity.upper()),
        ("Description", r.description),
        ("Message", a.message),
        ("Current Value", f"{a.value:.2f}"),
        ("Threshold", threshold_text(a.threshold)),
        ("Time", format_time(n.time_ms)),
        ("Condition", condition_text(r)),
    ]
    if r.condition.timeWindow:
        rows.append(("Time Window", f"{r.condition.timeWindow / 1000:g} seconds"))
    rows.append(("Alert ID", a.id))
    if a.labels:
        rows.append(("Labels", ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()))))
    if n.note is not None:
        rows.append(("Throttle", n.note.text()))
    return rows


def email_text(n: Notification) -> str:
    """The plain-text part."""
    title = {"resolved": "Alert resolved", "summary": "Throttle summary"}.get(n.kind, "Alert")
    lines = [f"{title}: {n.rule.name}", ""]
    lines += [f"{k}: {v}" for k, v in _rows(n)]
    return "\n".join(lines) + "\n"


def email_html(n: Notification) -> str:
    """The HTML part; every value is escaped."""
    colour = RESOLVED_COLOUR if n.kind == "resolved" else EMAIL_COLOURS[n.alert.severity]
    title = {"resolved": "Resolved", "summary": "Throttle summary"}.get(n.kind, "Alert")
    e = html.escape
    rows = "".join(
        f'<tr><td style="padding:4px 8px;font-weight:bold">{e(k)}</td>'
        f'<td style="padding:4px 8px">{e(v)}</td></tr>'
        for k, v in _rows(n)
    )
    return (
        '<!DOCTYPE html><html><body style="font-family:Arial,sans-serif">'
        f'<div style="background:{colour};color:#fff;padding:12px 16px">'
        f'<h2 style="margin:0">{e(title)}: {e(n.rule.name)}</h2></div>'
        f'<table style="border-collapse:collapse;margin-top:8px">{rows}</table>'
        '<p style="color:#888;font-size:12px">Sent by KumoWatch</p></body></html>'
    )


def test_email() -> tuple[str, str, str]:
    """(subject, text, html) of a test email."""
    text = "This is a test notification from KumoWatch. The email channel works.\n"
    return ("[TEST] KumoWatch test notification", text, f"<p>{html.escape(text)}</p>")


# --------------------------------------------------------------------------- Slack


def slack_escape(text: str) -> str:
    """Slack's three control characters as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(n: Notification) -> dict[str, Any]:
    """The seed's incoming-webhook body: one attachment with the alert's fields."""
    a, r = n.alert, n.rule
    s = slack_escape
    if n.kind == "resolved":
        colour, title = RESOLVED_COLOUR, f"{RESOLVED_EMOJI} Resolved: {s(r.name)}"
    else:
        colour, title = SLACK_COLOURS[a.severity], f"{SLACK_EMOJI[a.severity]} {s(r.name)}"
    fields: list[dict[str, Any]] = [
        {"title": "Severity", "value": a.severity.upper(), "short": True},
        {"title": "Alert ID", "value": s(a.id), "short": True},
        {"title": "Message", "value": s(a.message), "short": False},
        {"title": "Current Value", "value": f"{a.value:.2f}", "short": True},
        {"title": "Threshold", "value": threshold_text(a.threshold), "short": True},
        {"title": "Condition", "value": s(condition_text(r)), "short": False},
        {"title": "Status", "value": n.kind if n.kind != "summary" else "firing", "short": True},
    ]
    if a.labels:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()))
        fields.append({"title": "Labels", "value": s(labels), "short": False})
    if n.note is not None:
        fields.append({"title": "Throttle", "value": n.note.text(), "short": False})
    return {
        "username": SLACK_USERNAME,
        "icon_emoji": SLACK_ICON,
        "attachments": [
            {
                "color": colour,
                "title": title,
                "text": s(r.description),
                "fields": fields,
                "footer": SLACK_FOOTER,
                "ts": n.time_ms // 1000,
            }
        ],
    }


def slack_test_body() -> dict[str, Any]:
    """A test message."""
    return {
        "username": SLACK_USERNAME,
        "icon_emoji": SLACK_ICON,
        "text": "Test notification from KumoWatch: the Slack channel works.",
    }


# --------------------------------------------------------------------------- webhook


def webhook_body(n: Notification) -> dict[str, Any]:
    """The seed's ``kumomta.alert`` body plus ``status``, ``labels`` and ``throttle``.

    A throttle summary is ``event: "kumomta.alert.summary"`` with the last suppressed alert.
    """
    a, r = n.alert, n.rule
    c = r.condition
    body: dict[str, Any] = {
        "event": "kumomta.alert.summary" if n.kind == "summary" else "kumomta.alert",
        "timestamp": iso_time(n.time_ms),
        "status": "resolved" if n.kind == "resolved" else "firing",
        "alert": {
            "id": a.id,
            "severity": a.severity,
            "message": a.message,
            "acknowledged": a.acknowledged,
            "value": a.value,
            "threshold": a.threshold,
        },
        "rule": {
            "id": r.id,
            "name": r.name,
            "description": r.description,
            "condition": {
                "type": c.type,
                "operator": c.operator,
                "threshold": c.threshold,
                "timeWindow": c.timeWindow,
            },
        },
        "labels": dict(a.labels),
        "metadata": {"source": SOURCE, "version": PAYLOAD_VERSION},
    }
    if n.note is not None:
        body["throttle"] = {
            "suppressed": n.note.suppressed,
            "since": iso_time(n.note.since_ms),
            "text": n.note.text(),
        }
    return body


def webhook_test_body(now_ms: int) -> dict[str, Any]:
    """The seed's test form."""
    return {
        "event": "kumomta.test",
        "timestamp": iso_time(now_ms),
        "message": "Test notification from KumoWatch",
        "metadata": {"source": SOURCE, "version": PAYLOAD_VERSION},
    }
