// Alert rules: enable toggles and threshold edits (admin only; others see the rules read-only).

import { h, replace } from "../dom.js";
import { seg } from "../api.js";

function asRules(data) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.rules)) return data.rules;
  return [];
}

function duration(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n) || n <= 0) return "";
  if (n % 3_600_000 === 0) return `${n / 3_600_000} h`;
  if (n % 60_000 === 0) return `${n / 60_000} min`;
  return `${Math.round(n / 100) / 10} s`;
}

/** "bounce_rate > 5 over 5 min (avg) · for 1 min · scope provider=gmail" */
export function describeCondition(rule) {
  const c = rule.condition || {};
  const parts = [`${c.type} ${c.operator} ${c.threshold}`];
  if (c.timeWindow) parts[0] += ` over ${duration(c.timeWindow)}`;
  if (c.aggregation) parts[0] += ` (${c.aggregation})`;
  if (c.metric) parts.push(`metric ${c.metric}`);
  if (c.groupBy) parts.push(`per ${c.groupBy}`);
  if (rule.for) parts.push(`for ${duration(rule.for)}`);
  if (rule.minVolume) parts.push(`min volume ${rule.minVolume}`);
  const scope = Object.entries(rule.scope || {}).filter(([, v]) => v !== null && v !== undefined && v !== "");
  if (scope.length) parts.push(`scope ${scope.map(([k, v]) => `${k}=${v}`).join(" ")}`);
  return parts.join(" · ");
}

class RuleRow {
  constructor(view, rule) {
    this.view = view;
    this.rule = rule;
    const admin = view.ctx.session.canAdmin;
    const id = `rule-${rule.id}`.replace(/[^A-Za-z0-9_-]/g, "_");
    this.name = h("span", { class: "rule-name" });
    this.severity = h("span", { class: "badge" });
    this.cond = h("div", { class: "rule-cond" });
    let right;
    if (admin) {
      this.toggle = h("input", { type: "checkbox", id: `${id}-enabled`, "data-action": "toggle" });
      this.toggle.addEventListener("change", () => this.setEnabled(this.toggle.checked));
      right = h("label", { class: "switch", for: `${id}-enabled` }, this.toggle, "Enabled");
    } else {
      this.state = h("span", { class: "badge", "data-field": "enabled" });
      right = this.state;
    }
    this.el = h(
      "li",
      { class: "rule", dataset: { ruleId: rule.id } },
      h("div", {}, h("div", { class: "alert-head" }, this.name, this.severity), this.cond),
      right,
    );
    if (admin) {
      this.threshold = h("input", { type: "number", step: "any", id: `${id}-threshold`, inputmode: "decimal", "data-field": "threshold" });
      this.save = h("button", { type: "submit", class: "btn btn-small", text: "Save" });
      this.form = h(
        "form",
        { class: "rule-edit", onsubmit: (e) => this.saveThreshold(e) },
        h("label", { for: `${id}-threshold` }, "Threshold", this.threshold),
        this.save,
      );
      this.el.append(this.form);
    }
    this.update(rule);
  }

  update(rule) {
    const typing = this.shown && this.threshold && (document.activeElement === this.threshold || this.threshold.value !== String(this.rule.condition.threshold));
    this.rule = rule;
    this.name.textContent = rule.name;
    this.severity.className = `badge ${rule.severity}`;
    this.severity.textContent = rule.builtin ? `${rule.severity} · built-in` : rule.severity;
    this.cond.textContent = describeCondition(rule);
    this.el.classList.toggle("disabled", !rule.enabled);
    if (this.toggle) {
      this.toggle.checked = Boolean(rule.enabled);
      this.toggle.setAttribute("aria-label", `${rule.name} enabled`);
    } else {
      this.state.className = rule.enabled ? "badge ok" : "badge muted";
      this.state.textContent = rule.enabled ? "enabled" : "disabled";
    }
    if (this.threshold && !typing) this.threshold.value = String(rule.condition.threshold);
    this.shown = true;
  }

  async setEnabled(enabled) {
    this.toggle.disabled = true;
    try {
      const res = await this.view.ctx.api.patch(`api/alerts/rules/${seg(this.rule.id)}/toggle`, { enabled });
      this.update(res && res.rule ? res.rule : { ...this.rule, enabled });
      this.view.ctx.toast(`${this.rule.name} ${enabled ? "enabled" : "disabled"}`);
    } catch (exc) {
      this.toggle.checked = Boolean(this.rule.enabled);
      this.view.ctx.report(exc);
    } finally {
      this.toggle.disabled = false;
    }
  }

  async saveThreshold(event) {
    event.preventDefault();
    const value = Number(this.threshold.value);
    if (this.threshold.value.trim() === "" || !Number.isFinite(value)) {
      this.view.ctx.report(new Error("The threshold must be a number"));
      return;
    }
    const body = { ...this.rule, condition: { ...this.rule.condition, threshold: value } };
    this.save.disabled = true;
    try {
      const res = await this.view.ctx.api.put(`api/alerts/rules/${seg(this.rule.id)}`, body);
      const rule = res && res.rule ? res.rule : body;
      this.threshold.value = String(rule.condition.threshold);
      this.update(rule);
      this.view.ctx.toast(`${rule.name}: threshold ${rule.condition.threshold}`);
    } catch (exc) {
      this.view.ctx.report(exc);
    } finally {
      this.save.disabled = false;
    }
  }
}

export class RulesView {
  constructor(ctx) {
    this.ctx = ctx;
    this.rows = new Map();
    this.list = document.getElementById("rules-list");
    document.getElementById("rules-note").textContent = ctx.session.canAdmin
      ? "Changes apply to every alerter at once."
      : "Read-only: changing rules needs the admin role.";
    ctx.live.on("rule:changed", (data) => this.changed(data));
    replace(this.list, h("li", { class: "empty", text: "Loading rules…" }));
  }

  async load() {
    const rules = asRules(await this.ctx.api.get("api/alerts/rules"));
    const ids = new Set();
    for (const rule of rules) {
      if (!rule || typeof rule.id !== "string") continue;
      ids.add(rule.id);
      this.upsert(rule);
    }
    for (const id of [...this.rows.keys()]) if (!ids.has(id)) this.rows.delete(id);
    this.draw();
  }

  changed(data) {
    const rule = data && data.rule;
    const id = rule && rule.id ? rule.id : data && data.id;
    if (typeof id !== "string") return;
    if (data.action === "deleted") this.rows.delete(id);
    else if (rule && rule.condition) this.upsert(rule);
    this.draw();
  }

  upsert(rule) {
    const row = this.rows.get(rule.id);
    if (row) row.update(rule);
    else this.rows.set(rule.id, new RuleRow(this, rule));
  }

  draw() {
    const rows = [...this.rows.values()].sort((a, b) => a.rule.name.localeCompare(b.rule.name));
    if (!rows.length) {
      replace(this.list, h("li", { class: "empty", text: "No rules." }));
      return;
    }
    // Re-append the same elements: a threshold being typed keeps its focus and value.
    const current = [...this.list.children];
    if (current.length !== rows.length || rows.some((r, i) => current[i] !== r.el)) replace(this.list, rows.map((r) => r.el));
  }
}
