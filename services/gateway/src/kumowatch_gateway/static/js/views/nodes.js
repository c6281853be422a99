// Nodes: connection status and version per KumoMTA node, with a few live figures.

import { h, replace, coalesce } from "../dom.js";
import { ago, count, rate } from "../format.js";

/** Normalise GET /api/nodes (a list of statuses, or of {node, status, metrics}) to entries. */
export function nodeEntries(data) {
  const list = Array.isArray(data) ? data : data && Array.isArray(data.nodes) ? data.nodes : data && typeof data === "object" ? Object.values(data) : [];
  const out = [];
  for (const item of list) {
    if (!item || typeof item !== "object") continue;
    if (typeof item.kumoMtaStatus === "string") out.push({ name: item.node, status: item, metrics: null });
    else {
      const status = item.status && typeof item.status === "object" ? item.status : null;
      const name = item.node || item.name || (status && status.node);
      if (typeof name === "string") out.push({ name, status, metrics: item.metrics && typeof item.metrics === "object" ? item.metrics : null });
    }
  }
  return out.filter((e) => typeof e.name === "string");
}

export class NodesView {
  constructor(ctx) {
    this.ctx = ctx;
    this.root = document.getElementById("nodes-list");
    this.nodes = new Map();
    this.render = coalesce(() => this.draw(), ctx.signal);
    this.draw();
    ctx.live.on("connection:status", (status) => this.status(status));
    ctx.live.on("metrics:update", (m) => this.metrics(m));
  }

  async load() {
    const data = await this.ctx.api.get("api/nodes");
    for (const entry of nodeEntries(data)) {
      const node = this.entry(entry.name);
      if (entry.status) node.status = entry.status;
      if (entry.metrics) node.metrics = entry.metrics;
    }
    this.changed();
  }

  entry(name) {
    let node = this.nodes.get(name);
    if (!node) {
      node = { name, status: null, metrics: null };
      this.nodes.set(name, node);
      this.ctx.nodeNames(this.names());
    }
    return node;
  }

  names() {
    return [...this.nodes.keys()].sort();
  }

  status(status) {
    if (!status || typeof status.node !== "string") return;
    const node = this.entry(status.node);
    if (node.status && Number(node.status.timestamp) > Number(status.timestamp)) return;
    node.status = status;
    this.changed();
  }

  metrics(m) {
    if (!m || typeof m.node !== "string") return;
    const node = this.entry(m.node);
    node.metrics = m;
    this.changed();
  }

  changed() {
    this.render();
  }

  tick() {
    this.render();
  }

  draw() {
    if (!this.nodes.size) {
      replace(this.root, h("p", { class: "empty", text: "Waiting for node status…" }));
      return;
    }
    replace(this.root, this.names().map((name) => this.card(this.nodes.get(name))));
  }

  card(node) {
    const st = node.status;
    const m = node.metrics;
    const kumo = st ? String(st.kumoMtaStatus) : "unknown";
    const badgeClass = ["healthy", "degraded", "down"].includes(kumo) ? kumo : "muted";
    const rows = [
      ["Version", st && st.version ? st.version : "–"],
      ["Host", st && st.hostname ? st.hostname : "–"],
      ["Polled", st && st.connected !== undefined ? (st.connected ? "yes" : "no") : "–"],
      ["Latency", st && Number.isFinite(st.latencyMs) ? `${Math.round(st.latencyMs)} ms` : "–"],
      ["Delivered", m ? `${rate(m.deliveredPerSec)}/s` : "–"],
      ["Queued", m ? count(Number(m.scheduledTotal || 0) + Number(m.readyTotal || 0)) : "–"],
      ["Last data", st || m ? ago(Math.max(Number(st && st.timestamp) || 0, Number(m && m.timestamp) || 0)) : "–"],
    ];
    return h(
      "article",
      { class: "node", dataset: { node: node.name, status: kumo }, "aria-label": `Node ${node.name}` },
      h("div", { class: "node-head" }, h("span", { class: "node-name", text: node.name }), h("span", { class: `badge ${badgeClass}`, text: kumo })),
      h("dl", {}, rows.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })])),
      st && st.reason ? h("p", { class: "reason", text: st.reason }) : null,
    );
  }
}
