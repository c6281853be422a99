// DOM helpers. Data only ever reaches the page as text nodes or attribute values, never as HTML.

/**
 * Create an element: h("li", {class: "x", onclick: fn, text: "..."}, child, "text", ...).
 * Props: `class`, `text` (textContent), `dataset`, `on<event>` listeners, anything else an attribute
 * (false/null/undefined skip it, true sets it empty).
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element with attributes. */
export function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace every child of `node` with `children`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/**
 * Run `fn` at most once per animation frame, however often it is asked for; never after
 * `signal` (the session's) aborts.
 */
export function coalesce(fn, signal) {
  let queued = false;
  return () => {
    if (queued || (signal && signal.aborted)) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      if (!(signal && signal.aborted)) fn();
    });
  };
}

/** Like coalesce, but at most once per `ms` (for views fed by busy streams). */
export function throttle(fn, ms, signal) {
  let timer = null;
  let last = 0;
  const run = coalesce(fn, signal);
  return () => {
    if (timer !== null || (signal && signal.aborted)) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      run();
    }, wait);
  };
}
