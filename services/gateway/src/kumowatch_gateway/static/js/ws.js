// The live connection to the gateway's /ws: first-frame auth (a browser cannot set headers, and a
// token in the URL would end up in logs), subscriptions, keep-alive pings, and reconnection with
// exponential backoff and jitter.

export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_TOO_SLOW = 1013;

const PING_EVERY_MS = 25_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const LOST_AFTER_ATTEMPTS = 3;

/** The WebSocket URL next to the page (same origin, ws: or wss:). */
export function socketUrl() {
  const url = new URL("ws", document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.hash = "";
  url.search = "";
  return url.href;
}

/** Delay before reconnect attempt `n` (1-based): 0.5 s doubling to 30 s, with 50-100 % jitter. */
export function backoff(n, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, n - 1));
  return Math.round(base * (0.5 + random() / 2));
}

/**
 * Events: `state` ({state, attempt, delay, code, reason}) where state is connecting | live |
 * reconnecting | lost | expired | closed; `open` after (re)connecting; and one event per server
 * frame name (`queue:update`, ...) with the frame's data as `detail`.
 */
export class LiveSocket extends EventTarget {
  constructor(token, subscriptions) {
    super();
    this.token = token;
    this.subscriptions = subscriptions;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.pinger = null;
    this.stopped = false;
    this.everOpen = false;
  }

  on(event, fn) {
    this.addEventListener(event, (e) => fn(e.detail));
  }

  emit(event, detail) {
    this.dispatchEvent(new CustomEvent(event, { detail }));
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  /** Close for good (sign-out or expired token). */
  stop(state = "closed") {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.onmessage = null;
      ws.onerror = null;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000, "bye");
    }
    this.emit("state", { state });
  }

  send(event, data = {}) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ event, data }));
      return true;
    }
    return false;
  }

  connect() {
    clearTimeout(this.timer);
    this.emit("state", { state: this.attempt ? "reconnecting" : "connecting", attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch {
      this.scheduleReconnect(0, "");
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ event: "auth", data: { token: this.token } }));
      for (const [topic, filter] of this.subscriptions) {
        ws.send(JSON.stringify({ event: `subscribe:${topic}`, data: filter || {} }));
      }
      this.attempt = 0;
      this.everOpen = true;
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send("ping", {}), PING_EVERY_MS);
      this.emit("state", { state: "live" });
      this.emit("open", {});
    };
    ws.onmessage = (message) => {
      if (typeof message.data !== "string") return;
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (!frame || typeof frame.event !== "string") return;
      // The gateway says why before it closes with 4401 (expired, or refused outright).
      if (frame.event === "error") this.lastError = frame.data;
      this.emit(frame.event, frame.data ?? {});
    };
    // An error is always followed by close, which decides what to do.
    ws.onerror = () => {};
    ws.onclose = (event) => {
      clearInterval(this.pinger);
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === CLOSE_UNAUTHORIZED) {
        this.stopped = true;
        const why = this.lastError || {};
        this.emit("state", { state: "expired", code: event.code, reason: event.reason, error: why.code, message: why.message });
        return;
      }
      this.scheduleReconnect(event.code, event.reason);
    };
  }

  scheduleReconnect(code, reason) {
    if (this.stopped) return;
    this.attempt += 1;
    const delay = backoff(this.attempt);
    const state = this.attempt >= LOST_AFTER_ATTEMPTS ? "lost" : "reconnecting";
    this.emit("state", { state, attempt: this.attempt, delay, code, reason, tooSlow: code === CLOSE_TOO_SLOW });
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
