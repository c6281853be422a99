// Rates over the last 15 minutes: a bounded ring of samples per node, summed across nodes on a
// fixed time grid, drawn as SVG lines by our own code.

import { s, replace } from "./dom.js";

export const WINDOW_MS = 15 * 60 * 1000;
export const SERIES = [
  { key: "deliveredPerSec", name: "Delivered", css: "s-delivered" },
  { key: "bouncedPerSec", name: "Bounced", css: "s-bounced" },
  { key: "deferredPerSec", name: "Deferred", css: "s-deferred" },
  { key: "receivedPerSec", name: "Received", css: "s-received" },
];

/** A fixed-capacity ring of samples, oldest first when read. */
export class Ring {
  constructor(capacity) {
    this.capacity = capacity;
    this.items = new Array(capacity);
    this.start = 0;
    this.length = 0;
  }

  push(item) {
    if (this.length < this.capacity) {
      this.items[(this.start + this.length) % this.capacity] = item;
      this.length += 1;
    } else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  last() {
    return this.length ? this.items[(this.start + this.length - 1) % this.capacity] : undefined;
  }

  *[Symbol.iterator]() {
    for (let i = 0; i < this.length; i += 1) yield this.items[(this.start + i) % this.capacity];
  }
}

/** Per-node rings of {t, values} and their sum across nodes. */
export class RateHistory {
  /** Capacity 1,800 per node: 15 minutes at two samples a second. */
  constructor(capacity = 1800) {
    this.capacity = capacity;
    this.nodes = new Map();
  }

  add(update) {
    const t = Number(update.timestamp);
    if (!Number.isFinite(t) || typeof update.node !== "string") return;
    let ring = this.nodes.get(update.node);
    if (!ring) {
      ring = new Ring(this.capacity);
      this.nodes.set(update.node, ring);
    }
    const prev = ring.last();
    if (prev && t <= prev.t) return; // stale or repeated
    const values = SERIES.map((series) => {
      const v = Number(update[series.key]);
      return Number.isFinite(v) && v >= 0 ? v : 0;
    });
    ring.push({ t, values });
  }

  /**
   * The summed series over the last 15 minutes on a grid of `step` ms (aligned to multiples of
   * `step`, so points do not shimmer as time passes, plus one point at `now`): for each grid
   * time, each node contributes its latest sample no older than `stale` ms. Times with no node
   * are null (a gap in the line).
   */
  summed(now, step, stale = Math.max(step * 3, 15_000)) {
    const from = now - WINDOW_MS;
    const times = [];
    for (let t = Math.ceil(from / step) * step; t < now; t += step) times.push(t);
    times.push(now);
    const points = times.map(() => null);
    for (const ring of this.nodes.values()) {
      const samples = [...ring];
      let j = 0;
      let current = null;
      times.forEach((t, i) => {
        while (j < samples.length && samples[j].t <= t) {
          current = samples[j];
          j += 1;
        }
        if (current && t - current.t <= stale) {
          const row = points[i] || (points[i] = SERIES.map(() => 0));
          current.values.forEach((v, k) => {
            row[k] += v;
          });
        }
      });
    }
    return { from, times, points };
  }
}

/** A "nice" axis maximum at or above `value` (1, 2, 2.5, 5 times a power of ten). */
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= value) return m * power;
  return 10 * power;
}

function tickLabel(v) {
  if (v >= 1000) return `${Math.round(v / 100) / 10}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** Draw `series` (from RateHistory.summed) into `container` as an SVG of its current size. */
export function drawChart(container, data, now) {
  const width = Math.max(200, Math.round(container.clientWidth || 600));
  const height = Math.max(120, Math.round(container.clientHeight || 220));
  const pad = { left: 40, right: 8, top: 8, bottom: 22 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  let max = 0;
  for (const row of data.points) if (row) for (const v of row) max = Math.max(max, v);
  const top = niceMax(max);
  const x = (t) => pad.left + ((t - data.from) / WINDOW_MS) * plotW;
  const y = (v) => pad.top + plotH - (v / top) * plotH;

  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, "aria-hidden": "true", focusable: "false" });
  for (let i = 0; i <= 4; i += 1) {
    const v = (top / 4) * i;
    const yy = Math.round(y(v)) + 0.5;
    svg.append(s("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: yy, y2: yy }));
    svg.append(s("text", { class: "axis", x: pad.left - 6, y: yy + 4, "text-anchor": "end", text: tickLabel(v) }));
  }
  for (let m = 15; m >= 0; m -= 5) {
    const t = now - m * 60_000;
    const xx = x(t);
    const anchor = m === 15 ? "start" : m === 0 ? "end" : "middle";
    svg.append(s("text", { class: "axis", x: xx, y: height - 6, "text-anchor": anchor, text: m ? `−${m} min` : "now" }));
  }
  let any = false;
  SERIES.forEach((series, k) => {
    const parts = [];
    let pen = false;
    data.points.forEach((row, i) => {
      if (!row) {
        pen = false;
        return;
      }
      const px = x(data.times[i]).toFixed(1);
      const py = y(row[k]).toFixed(1);
      parts.push(`${pen ? "L" : "M"}${px} ${py}`);
      pen = true;
      any = true;
    });
    if (parts.length) svg.append(s("path", { class: `line ${series.css}`, d: parts.join(""), "data-series": series.key }));
  });
  if (!any) {
    svg.append(s("text", { class: "nodata", x: pad.left + plotW / 2, y: pad.top + plotH / 2, "text-anchor": "middle", text: "Waiting for metrics…" }));
  }
  replace(container, svg);
}
