// Alerts (state, severity, labels; Acknowledge with a note; Silence for a while) and silences.

import { h, replace, coalesce } from "../dom.js";
import { ago, until, iso } from "../format.js";
import { openDialog } from "../dialog.js";
import { seg } from "../api.js";

const STATUS_ORDER = { firing: 0, pending: 1, resolved: 2 };
const SEVERITY_ORDER = { critical: 0, error: 1, warning: 2, info: 3 };
const KEEP = 200;
const DURATIONS = [
  [String(15 * 60_000), "15 minutes"],
  [String(60 * 60_000), "1 hour"],
  [String(4 * 3600_000), "4 hours"],
  [String(24 * 3600_000), "24 hours"],
];

function asAlert(data) {
  const a = data && data.alert && typeof data.alert === "object" ? data.alert : data;
  return a && typeof a.id === "string" ? a : null;
}

function listOf(data, key) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data[key])) return data[key];
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}

/** The labels a silence is matched against (as the notifier builds them). */
export function silenceLabels(alert) {
  return { ...(alert.labels || {}), alertname: alert.ruleName, ruleId: alert.ruleId, severity: alert.severity };
}

function matcherMatches(m, labels) {
  const value = labels[m.name] ?? "";
  if (m.op === "=" || !m.op) return value === m.value;
  if (m.op === "!=") return value !== m.value;
  let hit = false;
  try {
    hit = new RegExp(`^(?:${m.value})$`).test(value);
  } catch {
    hit = false;
  }
  return m.op === "=~" ? hit : !hit;
}

export function silenceMatches(silence, alert, now = Date.now()) {
  if (!(silence.startsAt <= now && now < silence.endsAt)) return false;
  const labels = silenceLabels(alert);
  return Array.isArray(silence.matchers) && silence.matchers.every((m) => matcherMatches(m, labels));
}

export class AlertsView {
  constructor(ctx) {
    this.ctx = ctx;
    this.alerts = new Map();
    this.silences = new Map();
    this.list = document.getElementById("alerts-list");
    this.silenceList = document.getElementById("silences-list");
    this.filter = document.getElementById("alerts-filter");
    this.badge = document.getElementById("alert-count");
    this.filter.addEventListener("change", () => this.draw(), { signal: ctx.signal });
    this.render = coalesce(() => this.draw(), ctx.signal);
    this.loaded = false;
    for (const event of ["alert:triggered", "alert:resolved", "alert:acknowledged"]) {
      ctx.live.on(event, (data) => this.upsert(asAlert(data)));
    }
    this.ticks = 0;
    this.draw();
  }

  async load() {
    const [alerts, silences] = await Promise.all([
      this.ctx.api.get("api/alerts", { limit: 100 }),
      this.ctx.api.get("api/silences").catch((exc) => {
        this.ctx.report(exc);
        return [];
      }),
    ]);
    for (const a of listOf(alerts, "alerts")) this.upsert(asAlert(a), false);
    this.loaded = true;
    this.silences.clear();
    for (const s of listOf(silences, "silences")) if (s && typeof s.id === "string") this.silences.set(s.id, s);
    this.render();
  }

  upsert(alert, redraw = true) {
    if (!alert) return;
    const prev = this.alerts.get(alert.id);
    if (prev && Number(prev.timestamp) > Number(alert.timestamp) && prev.acknowledged === alert.acknowledged) return;
    // An acknowledgement is never undone by an older frame.
    if (prev && prev.acknowledged && !alert.acknowledged) {
      alert = { ...alert, acknowledged: true, acknowledgedBy: prev.acknowledgedBy, acknowledgedAt: prev.acknowledgedAt, ackNote: prev.ackNote };
    }
    this.alerts.set(alert.id, alert);
    if (this.alerts.size > KEEP) {
      const oldest = [...this.alerts.values()].filter((a) => a.status === "resolved").sort((a, b) => a.timestamp - b.timestamp);
      for (const a of oldest.slice(0, this.alerts.size - KEEP)) this.alerts.delete(a.id);
    }
    if (redraw) this.render();
  }

  tick() {
    this.ticks += 1;
    if (this.ticks % 15 === 0) this.render();
  }

  visible() {
    const mode = this.filter.value;
    const all = [...this.alerts.values()];
    const shown = all.filter((a) => (mode === "active" ? a.status !== "resolved" : mode === "unacknowledged" ? !a.acknowledged : true));
    shown.sort(
      (a, b) =>
        (STATUS_ORDER[a.status] ?? 3) - (STATUS_ORDER[b.status] ?? 3) ||
        (SEVERITY_ORDER[a.severity] ?? 4) - (SEVERITY_ORDER[b.severity] ?? 4) ||
        Number(b.startsAt || b.timestamp) - Number(a.startsAt || a.timestamp),
    );
    return shown;
  }

  draw() {
    const now = Date.now();
    const firing = [...this.alerts.values()].filter((a) => a.status === "firing" && !a.acknowledged).length;
    this.badge.textContent = firing ? String(firing) : "";
    const shown = this.visible();
    if (!shown.length) {
      const text = !this.loaded ? "Loading alerts…" : this.filter.value === "active" ? "No active alerts." : "No alerts.";
      replace(this.list, h("li", { class: "empty", text }));
    } else replace(this.list, shown.map((a) => this.item(a, now)));
    this.drawSilences(now);
  }

  item(a, now) {
    const silenced = [...this.silences.values()].some((s) => silenceMatches(s, a, now)) || (Array.isArray(a.silencedBy) && a.silencedBy.length > 0);
    const labels = Object.entries(a.labels || {});
    const can = this.ctx.session.canOperate;
    const actions = [];
    if (can && !a.acknowledged && a.status !== "resolved") {
      actions.push(h("button", { type: "button", class: "btn btn-small", "data-action": "acknowledge", onclick: () => this.acknowledge(a), text: "Acknowledge…" }));
    }
    if (can && a.status !== "resolved" && !silenced) {
      actions.push(h("button", { type: "button", class: "btn btn-small", "data-action": "silence", onclick: () => this.silence(a), text: "Silence…" }));
    }
    return h(
      "li",
      { class: `alert sev-${a.severity} st-${a.status}`, dataset: { alertId: a.id, ruleId: a.ruleId, status: a.status } },
      h(
        "div",
        { class: "alert-head" },
        h("span", { class: "alert-title", text: a.ruleName || a.ruleId }),
        h("span", { class: `badge ${a.severity}`, text: a.severity }),
        h("span", { class: `badge ${a.status}`, "data-field": "status", text: a.status }),
        a.acknowledged ? h("span", { class: "badge ok", "data-field": "acknowledged", text: "acknowledged" }) : null,
        silenced ? h("span", { class: "badge muted", text: "silenced" }) : null,
      ),
      h("p", { class: "alert-msg", text: a.message }),
      labels.length ? h("ul", { class: "labels", "aria-label": "Labels" }, labels.map(([k, v]) => h("li", { text: `${k}=${v}` }))) : null,
      h(
        "div",
        { class: "alert-meta" },
        `value ${formatValue(a.value)} · threshold ${formatValue(a.threshold)} · started `,
        h("time", { datetime: iso(Number(a.startsAt)), text: ago(Number(a.startsAt || a.timestamp), now) }),
        a.endsAt ? ` · resolved ${ago(Number(a.endsAt), now)}` : "",
      ),
      a.acknowledged
        ? h("p", { class: "ack-note", "data-field": "ack-note" }, `Acknowledged by ${a.acknowledgedBy || "someone"}${a.ackNote ? `: ${a.ackNote}` : ""}`)
        : null,
      actions.length ? h("div", { class: "row-actions" }, actions) : null,
    );
  }

  acknowledge(a) {
    return openDialog({
      title: "Acknowledge alert",
      text: `${a.ruleName}: ${a.message}`,
      ok: "Acknowledge",
      fields: [{ name: "note", label: "Note (optional)", type: "textarea", maxlength: 2000 }],
      onSubmit: async ({ note }) => {
        const body = note.trim() ? { note: note.trim() } : {};
        const res = await this.ctx.api.post(`api/alerts/${seg(a.id)}/acknowledge`, body);
        const updated = asAlert(res && res.alert ? res.alert : null);
        this.upsert(updated || { ...a, acknowledged: true, acknowledgedBy: this.ctx.session.username, ackNote: body.note || null });
        this.ctx.toast("Alert acknowledged");
      },
    });
  }

  silence(a) {
    const matchers = [{ name: "ruleId", value: a.ruleId, op: "=" }, ...Object.entries(a.labels || {}).map(([name, value]) => ({ name, value: String(value), op: "=" }))];
    return openDialog({
      title: "Silence notifications",
      text: `Mutes notifications for alerts matching ${matchers.map((m) => `${m.name}=${m.value}`).join(", ")}.`,
      ok: "Create silence",
      fields: [
        { name: "duration", label: "For", type: "select", options: DURATIONS, value: DURATIONS[1][0] },
        { name: "comment", label: "Comment", type: "textarea", maxlength: 2000, value: `Silenced from the dashboard: ${a.ruleName}` },
      ],
      onSubmit: async ({ duration, comment }) => {
        const res = await this.ctx.api.post("api/silences", { matchers, durationMs: Number(duration), comment });
        const silence = res && res.silence ? res.silence : res;
        if (silence && typeof silence.id === "string") this.silences.set(silence.id, silence);
        this.render();
        this.ctx.toast("Silence created");
      },
    });
  }

  async expire(silence) {
    try {
      await this.ctx.api.delete(`api/silences/${seg(silence.id)}`);
      this.silences.delete(silence.id);
      this.render();
      this.ctx.toast("Silence expired");
    } catch (exc) {
      this.ctx.report(exc);
    }
  }

  drawSilences(now) {
    const active = [...this.silences.values()].filter((s) => Number(s.endsAt) > now).sort((a, b) => a.endsAt - b.endsAt);
    if (!active.length) {
      replace(this.silenceList, h("li", { class: "empty", text: "No active silences." }));
      return;
    }
    replace(
      this.silenceList,
      active.map((s) =>
        h(
          "li",
          { class: "silence", dataset: { silenceId: s.id } },
          h(
            "span",
            { class: "what" },
            (s.matchers || []).map((m) => `${m.name}${m.op || "="}${m.value}`).join(", "),
            h("span", { class: "muted", text: ` · ends ${until(Number(s.endsAt), now)} · by ${s.createdBy || "?"}` }),
            s.comment ? h("span", { class: "muted", text: ` · ${s.comment}` }) : null,
          ),
          this.ctx.session.canOperate ? h("button", { type: "button", class: "btn btn-small", onclick: () => this.expire(s), text: "Expire" }) : null,
        ),
      ),
    );
  }
}

function formatValue(v) {
  const n = Number(v);
  if (!Number.isFinite(n)) return "–";
  return Math.abs(n) >= 100 || Number.isInteger(n) ? String(Math.round(n * 10) / 10) : n.toFixed(2);
}
