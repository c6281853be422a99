// Formatting and small pure helpers shared by the views.

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const rateFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1, minimumFractionDigits: 1 });

/** An integer count with grouping. */
export function count(value) {
  return Number.isFinite(value) ? numberFormat.format(value) : "–";
}

/** A per-second rate with one decimal. */
export function rate(value) {
  return Number.isFinite(value) ? rateFormat.format(value) : "–";
}

/** A percentage or a dash. */
export function percent(value) {
  return Number.isFinite(value) ? `${rateFormat.format(value)} %` : "–";
}

/** "12 s ago", "5 min ago", "3 h ago" from an epoch-ms timestamp. */
export function ago(ms, now = Date.now()) {
  if (!Number.isFinite(ms)) return "–";
  const sec = Math.max(0, Math.round((now - ms) / 1000));
  if (sec < 60) return `${sec} s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ago`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ago`;
  return `${Math.floor(sec / 86400)} d ago`;
}

/** "in 55 min" for a future epoch-ms. */
export function until(ms, now = Date.now()) {
  const sec = Math.max(0, Math.round((ms - now) / 1000));
  if (sec < 60) return `in ${sec} s`;
  if (sec < 3600) return `in ${Math.ceil(sec / 60)} min`;
  return `in ${Math.round(sec / 360) / 10} h`;
}

/** HH:MM:SS local time. */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

/** ISO date-time for <time datetime>. */
export function iso(ms) {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : "";
}

/**
 * The glob a filter box means: fnmatch syntax as typed, or `*text*` when it has no wildcard
 * (people type "gmail" and mean "contains gmail").
 */
export function filterGlob(text) {
  const t = text.trim();
  if (!t) return "";
  return /[*?[]/.test(t) ? t : `*${t}*`;
}

const globCache = new Map();

/** fnmatch-style glob (`*`, `?`, `[...]`) to an anchored RegExp, cached. */
export function globRegExp(glob) {
  let rx = globCache.get(glob);
  if (rx) return rx;
  let out = "";
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i];
    if (c === "*") out += ".*";
    else if (c === "?") out += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) out += "\\[";
      else {
        let body = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (body.startsWith("!")) body = `^${body.slice(1)}`;
        out += `[${body}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  rx = new RegExp(`^${out}$`, "s");
  if (globCache.size > 200) globCache.clear();
  globCache.set(glob, rx);
  return rx;
}

/** True when `value` matches `glob` (an empty glob matches everything). */
export function globMatch(glob, value) {
  if (!glob) return true;
  if (typeof value !== "string") return false;
  try {
    return globRegExp(glob).test(value);
  } catch {
    return false;
  }
}
