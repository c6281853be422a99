// Message events: a bounded feed, bounces and failures kept apart so deliveries cannot push them out.

import { h, replace, throttle } from "../dom.js";
import { clock, count, iso } from "../format.js";

const KEEP_BAD = 100;
const KEEP_OTHER = 100;
const BAD = new Set(["bounced", "failed"]);

export class MessagesView {
  constructor(ctx) {
    this.ctx = ctx;
    this.bad = [];
    this.other = [];
    this.seen = { total: 0, bad: 0 };
    this.list = document.getElementById("messages-list");
    this.summary = document.getElementById("messages-summary");
    this.first = document.getElementById("messages-bounces-first");
    this.first.addEventListener("change", () => this.draw(), { signal: ctx.signal });
    this.render = throttle(() => this.draw(), 500, ctx.signal);
    this.draw();
    ctx.live.on("message:status", (m) => this.add(m));
  }

  add(m) {
    if (!m || typeof m.status !== "string") return;
    this.seen.total += 1;
    const bad = BAD.has(m.status);
    const list = bad ? this.bad : this.other;
    list.unshift(m);
    if (bad) this.seen.bad += 1;
    if (list.length > (bad ? KEEP_BAD : KEEP_OTHER)) list.length = bad ? KEEP_BAD : KEEP_OTHER;
    this.render();
  }

  draw() {
    const byTime = (a, b) => Number(b.timestamp) - Number(a.timestamp);
    const items = this.first.checked ? [...this.bad, ...this.other] : [...this.bad, ...this.other].sort(byTime);
    this.summary.textContent = this.seen.total
      ? `${count(this.seen.total)} events since the page opened, ${count(this.seen.bad)} bounced or failed; showing the latest ${count(items.length)}.`
      : "Waiting for message events…";
    replace(
      this.list,
      items.map((m) =>
        h(
          "li",
          { class: BAD.has(m.status) ? "msg bad" : "msg", dataset: { status: m.status }, title: m.messageId ? `message ${m.messageId}` : null },
          h("span", { class: `badge ${m.status}`, text: m.status }),
          h("time", { datetime: iso(Number(m.timestamp)), text: Number.isFinite(Number(m.timestamp)) ? clock(Number(m.timestamp)) : "" }),
          h("span", { class: "mq", text: [m.queue, m.node].filter(Boolean).join(" · ") }),
          m.details ? h("span", { class: "details", text: m.details }) : null,
        ),
      ),
    );
  }
}
