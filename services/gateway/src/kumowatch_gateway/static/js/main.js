// Entry point: sign-in, the live socket, and the views it feeds.

import { Api } from "./api.js";
import { h } from "./dom.js";
import { LiveSocket } from "./ws.js";
import { adoptFragmentToken, forget, parseSession, store, stored } from "./session.js";
import { NodesView } from "./views/nodes.js";
import { ThroughputView } from "./views/throughput.js";
import { QueuesView } from "./views/queues.js";
import { MessagesView } from "./views/messages.js";
import { AlertsView } from "./views/alerts.js";
import { RulesView } from "./views/rules.js";

const SUBSCRIPTIONS = [
  ["queues", {}],
  ["metrics", {}],
  ["messages", {}],
  ["alerts", {}],
];

const $ = (id) => document.getElementById(id);

let current = null; // {session, live, views, timers}

function setConnection(state, text) {
  const conn = $("conn");
  conn.dataset.state = state;
  $("conn-text").textContent = text;
}

function banner(text, kind = "warn") {
  const el = $("banner");
  if (!text) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  el.dataset.kind = kind;
  el.textContent = text;
  el.hidden = false;
}

export function toast(text, bad = false) {
  const el = h("div", { class: bad ? "toast bad" : "toast", role: bad ? "alert" : "status", text });
  $("toasts").append(el);
  setTimeout(() => el.remove(), bad ? 8000 : 4000);
}

function report(exc) {
  if (exc && exc.status === 401) return; // handled by the expiry path
  const text = exc && typeof exc.describe === "function" ? exc.describe() : String((exc && exc.message) || exc);
  toast(text, true);
}

function showSignIn(message = "") {
  $("signin").hidden = false;
  $("dashboard").hidden = true;
  $("who").hidden = true;
  $("signin-error").textContent = message;
  const input = $("token-input");
  input.value = "";
  input.focus();
}

function signOut(message = "", state = "closed") {
  const was = current;
  current = null;
  if (was) {
    for (const t of was.timers) {
      clearInterval(t);
      clearTimeout(t);
    }
    was.scope.abort();
    was.live.stop(state);
  }
  forget();
  showSignIn(message);
}

const EXPIRED = "Your session expired — paste a new token.";

/** Back to sign-in: the token expired, or the gateway refused it (`why`, its message). */
function expired(why = "") {
  banner("");
  setConnection("expired", why ? "Signed out" : "Session expired");
  signOut(why ? `The gateway refused this token (${why}) — paste a new token.` : EXPIRED, "expired");
}

function refusal(error) {
  const message = error && error.message ? String(error.message) : "";
  return /expired/i.test(message) ? "" : message;
}

function describeState(info) {
  switch (info.state) {
    case "connecting":
      return ["connecting", "Connecting…"];
    case "live":
      return ["live", "Live"];
    case "reconnecting":
      return ["reconnecting", info.delay ? `Reconnecting in ${Math.ceil(info.delay / 1000)} s…` : "Reconnecting…"];
    case "lost":
      return ["lost", `Gateway unreachable — reconnecting in ${Math.ceil((info.delay || 0) / 1000)} s…`];
    case "expired":
      return ["expired", "Session expired"];
    default:
      return ["closed", "Not signed in"];
  }
}

function start(session) {
  if (current) signOut();
  $("signin").hidden = true;
  $("dashboard").hidden = false;
  delete $("dashboard").dataset.loaded;
  $("who").hidden = false;
  $("who-name").textContent = session.username;
  $("who-role").textContent = session.roleName;
  banner("");

  const api = new Api(session.token, (error) => expired(refusal(error)));
  const live = new LiveSocket(session.token, SUBSCRIPTIONS);
  const scope = new AbortController();
  const ctx = { api, live, session, toast, report, signal: scope.signal, nodeNames: () => {} };
  const views = {
    nodes: new NodesView(ctx),
    throughput: new ThroughputView(ctx),
    queues: new QueuesView(ctx),
    messages: new MessagesView(ctx),
    alerts: new AlertsView(ctx),
    rules: new RulesView(ctx),
  };
  ctx.nodeNames = (names) => views.queues.setNodes(names);
  const timers = [];
  current = { session, live, views, timers, scope };

  let loaded = false;
  const refresh = () =>
    Promise.all(
      Object.values(views)
        .filter((v) => typeof v.load === "function")
        .map((v) => v.load().catch(report)),
    );

  live.on("state", (info) => {
    if (!current || current.live !== live) return;
    const [state, text] = describeState(info);
    setConnection(state, text);
    if (info.state === "expired") expired(info.error === "token_expired" ? "" : refusal(info));
    else if (info.state === "lost") banner("Lost contact with the gateway. The page keeps trying and will refresh itself when it is back.", "bad");
    else if (info.state === "reconnecting" && info.tooSlow) banner("The gateway dropped this page for reading too slowly; reconnecting.");
    else if (info.state === "live") banner("");
  });
  // After a reconnect, frames were missed: fetch the current state again.
  live.on("open", () => {
    if (loaded) refresh();
  });
  live.on("error", (data) => {
    if (data && data.message) console.warn("gateway:", data.message);
  });
  live.start();
  refresh().then(() => {
    loaded = true;
    // For people and tests alike: the first snapshot is in.
    $("dashboard").dataset.loaded = "true";
  });

  timers.push(
    setInterval(() => {
      for (const v of Object.values(views)) if (typeof v.tick === "function") v.tick();
    }, 1000),
  );
  if (session.expiresAt !== null) {
    // Timers longer than ~24.8 days overflow; a page is not open that long.
    const ms = Math.min(session.expiresAt - Date.now(), 2 ** 31 - 1);
    timers.push(setTimeout(() => expired(), Math.max(0, ms)));
  }
}

function init() {
  adoptFragmentToken();
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const { session, error } = parseSession($("token-input").value);
    if (!session) {
      $("signin-error").textContent = error;
      return;
    }
    store(session.token);
    $("token-input").value = "";
    start(session);
  });
  $("sign-out").addEventListener("click", () => {
    setConnection("closed", "Not signed in");
    banner("");
    signOut();
  });
  for (const button of document.querySelectorAll("[data-jump]")) {
    button.addEventListener("click", () => {
      const target = $(button.dataset.jump);
      target.scrollIntoView({ block: "start", behavior: "smooth" });
      const heading = target.querySelector("h2");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus({ preventScroll: true });
      }
    });
  }
  const token = stored();
  if (token) {
    const { session, error } = parseSession(token);
    if (session) {
      start(session);
      return;
    }
    forget();
    setConnection("expired", "Not signed in");
    showSignIn(error);
    return;
  }
  showSignIn();
}

init();
