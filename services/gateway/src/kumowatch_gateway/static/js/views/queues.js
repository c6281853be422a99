// Largest queues: live queue:update frames over a REST snapshot, filtered and sorted here.

import { h, replace, throttle } from "../dom.js";
import { count, filterGlob, globMatch } from "../format.js";

const SHOWN = 25;
const STALE_MS = 60_000;
// Beyond this many queues (a fleet with 100k queues), only the largest are kept in the page.
const KEEP = 5_000;

function key(q) {
  return `${q.node}\u0000${q.kind || "scheduled"}\u0000${q.queueName}`;
}

export class QueuesView {
  constructor(ctx) {
    this.ctx = ctx;
    this.queues = new Map();
    this.newestByNode = new Map();
    this.body = document.getElementById("queues-body");
    this.summary = document.getElementById("queues-summary");
    this.q = document.getElementById("queues-q");
    this.node = document.getElementById("queues-node");
    this.kind = document.getElementById("queues-kind");
    this.sort = document.getElementById("queues-sort");
    this.render = throttle(() => this.draw(), 500, ctx.signal);
    let debounce = null;
    const refilter = () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        this.draw();
        this.load().catch((exc) => ctx.report(exc));
      }, 250);
    };
    const opts = { signal: ctx.signal };
    this.q.addEventListener("input", refilter, opts);
    for (const el of [this.node, this.kind, this.sort]) el.addEventListener("change", refilter, opts);
    document.getElementById("queues-form").addEventListener("submit", (e) => e.preventDefault(), opts);
    ctx.signal.addEventListener("abort", () => clearTimeout(debounce));
    this.setNodes([]);
    this.draw();
    ctx.live.on("queue:update", (q) => this.update(q));
  }

  filters() {
    return { queue: filterGlob(this.q.value), node: this.node.value, kind: this.kind.value, sort: this.sort.value };
  }

  /** The REST snapshot for the current filters (fills in queues no frame has brought yet). */
  async load() {
    const f = this.filters();
    const page = await this.ctx.api.get("api/queues", { node: f.node, kind: f.kind, queue: f.queue, sort: f.sort, limit: 100 });
    const items = page && Array.isArray(page.items) ? page.items : Array.isArray(page) ? page : [];
    for (const q of items) this.update(q);
    this.total = page && Number.isFinite(page.total) ? page.total : null;
    this.render();
  }

  update(q) {
    if (!q || typeof q.queueName !== "string" || typeof q.node !== "string") return;
    const k = key(q);
    const prev = this.queues.get(k);
    if (prev && Number(prev.timestamp) > Number(q.timestamp)) return;
    this.queues.set(k, q);
    const t = Number(q.timestamp) || 0;
    if (t > (this.newestByNode.get(q.node) || 0)) this.newestByNode.set(q.node, t);
    this.render();
  }

  setNodes(names) {
    const current = this.node.value;
    replace(this.node, h("option", { value: "", text: "All" }), names.map((n) => h("option", { value: n, text: n })));
    this.node.value = names.includes(current) ? current : "";
  }

  draw() {
    // A queue missing from its node's recent snapshots has drained or been pruned.
    for (const [k, q] of this.queues) {
      if ((this.newestByNode.get(q.node) || 0) - Number(q.timestamp) > STALE_MS) this.queues.delete(k);
    }
    if (this.queues.size > KEEP) {
      const smallest = [...this.queues].sort((a, b) => Number(a[1].size) - Number(b[1].size));
      for (const [k] of smallest.slice(0, this.queues.size - KEEP)) this.queues.delete(k);
    }
    const f = this.filters();
    const rows = [];
    for (const q of this.queues.values()) {
      if (f.node && q.node !== f.node) continue;
      if (f.kind && (q.kind || "scheduled") !== f.kind) continue;
      if (f.queue && !globMatch(f.queue, q.queueName)) continue;
      rows.push(q);
    }
    if (f.sort === "name") rows.sort((a, b) => a.queueName.localeCompare(b.queueName) || a.node.localeCompare(b.node));
    else rows.sort((a, b) => Number(b.size) - Number(a.size) || a.queueName.localeCompare(b.queueName));
    const shown = rows.slice(0, SHOWN);
    this.summary.textContent = rows.length ? `${Math.min(SHOWN, rows.length)} of ${count(rows.length)} matching` : "";
    if (!shown.length) {
      const text = this.queues.size ? "No queue matches these filters." : "Waiting for queue data…";
      replace(this.body, h("tr", {}, h("td", { colspan: 5, class: "empty", text })));
      return;
    }
    replace(
      this.body,
      shown.map((q) =>
        h(
          "tr",
          { class: q.suspended ? "suspended" : null, dataset: { queue: q.queueName, node: q.node } },
          h("td", { class: "qname", text: q.queueName }),
          h("td", { text: q.node }),
          h("td", { class: "opt", text: q.kind || "scheduled" }),
          h("td", { class: "num", text: count(Number(q.size)) }),
          h("td", { class: "opt", text: q.provider || "–" }),
        ),
      ),
    );
  }
}
