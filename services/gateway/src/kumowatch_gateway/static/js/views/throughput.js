// Throughput: the latest per-second rates summed over nodes, and a 15-minute chart.

import { h, replace, s } from "../dom.js";
import { rate } from "../format.js";
import { RateHistory, SERIES, drawChart } from "../chart.js";

const GRID_STEP_MS = 5_000;
const FRESH_MS = 30_000;

export class ThroughputView {
  constructor(ctx) {
    this.ctx = ctx;
    this.tiles = document.getElementById("rate-tiles");
    this.chart = document.getElementById("rate-chart");
    this.history = new RateHistory();
    this.latest = new Map();
    this.dirty = true;
    this.values = new Map();
    replace(
      this.tiles,
      SERIES.map((series) => {
        const value = h("span", { class: "value", text: "–" });
        this.values.set(series.key, value);
        return h("div", { class: `tile ${series.css}`, dataset: { series: series.key } }, h("div", { class: "label", text: series.name }), value, h("span", { class: "unit", text: " /s" }));
      }),
    );
    replace(
      document.getElementById("rate-legend"),
      SERIES.map((series) => h("li", { class: series.css }, s("svg", { viewBox: "0 0 26 10", "aria-hidden": "true" }, s("line", { x1: 0, x2: 26, y1: 5, y2: 5 })), series.name)),
    );
    ctx.live.on("metrics:update", (m) => this.add(m));
    const resize = new ResizeObserver(() => this.drawChart());
    resize.observe(this.chart);
    ctx.signal.addEventListener("abort", () => resize.disconnect());
    this.tick();
  }

  async load() {
    const data = await this.ctx.api.get("api/metrics");
    const list = Array.isArray(data) ? data : data && typeof data === "object" ? (Array.isArray(data.items) ? data.items : Object.values(data)) : [];
    for (const m of list) if (m && typeof m === "object" && typeof m.node === "string") this.add(m);
    this.tick();
  }

  add(m) {
    if (!m || typeof m.node !== "string") return;
    this.history.add(m);
    this.newest = Math.max(this.newest || 0, Number(m.timestamp) || 0);
    const prev = this.latest.get(m.node);
    if (!prev || Number(m.timestamp) >= Number(prev.timestamp)) this.latest.set(m.node, m);
    this.dirty = true;
  }

  /** Once a second: the chart scrolls with time even when nothing new arrives. */
  tick() {
    const now = Date.now();
    for (const series of SERIES) {
      let sum = 0;
      let any = false;
      for (const m of this.latest.values()) {
        if (now - Number(m.timestamp) > FRESH_MS) continue;
        const v = Number(m[series.key]);
        if (Number.isFinite(v)) {
          sum += v;
          any = true;
        }
      }
      this.values.get(series.key).textContent = any ? rate(sum) : "–";
    }
    this.drawChart();
    this.dirty = false;
  }

  drawChart() {
    // A gateway clock a little ahead of ours must not hide the newest samples.
    const now = Math.max(Date.now(), Math.min(this.newest || 0, Date.now() + 60_000));
    drawChart(this.chart, this.history.summed(now, GRID_STEP_MS), now);
  }
}
