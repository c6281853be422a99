// The signed-in token: kept in sessionStorage, decoded client-side only to know who we are, which
// actions to offer and when it expires. The gateway verifies it and enforces roles.

const KEY = "kumowatch.token";

/** Decode a JWT's payload (base64url JSON) without verifying it; null when malformed. */
export function decodeToken(token) {
  const parts = typeof token === "string" ? token.trim().split(".") : [];
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" && !Array.isArray(claims) ? claims : null;
  } catch {
    return null;
  }
}

/** What the page knows about the signed-in user. */
export class Session {
  constructor(token, claims) {
    this.token = token;
    this.claims = claims;
    const roles = Array.isArray(claims.roles) ? claims.roles.filter((r) => typeof r === "string") : [];
    this.roles = roles;
    this.username = String(claims.username || claims.sub || claims.userId || "unknown");
    this.expiresAt = Number.isFinite(claims.exp) ? claims.exp * 1000 : null;
  }

  /** Any of operator or admin: may acknowledge and silence. */
  get canOperate() {
    return this.roles.includes("operator") || this.roles.includes("admin");
  }

  /** May change rules. */
  get canAdmin() {
    return this.roles.includes("admin");
  }

  /** The strongest role, for display. */
  get roleName() {
    if (this.canAdmin) return "admin";
    if (this.roles.includes("operator")) return "operator";
    return "viewer";
  }

  expired(now = Date.now()) {
    return this.expiresAt !== null && now >= this.expiresAt;
  }
}

/** A Session for `token`, or an error message saying why it cannot be one. */
export function parseSession(token) {
  const trimmed = (token || "").trim();
  if (!trimmed) return { error: "Paste a token first." };
  const claims = decodeToken(trimmed);
  if (!claims) return { error: "That does not look like a JWT (three base64url parts separated by dots)." };
  const session = new Session(trimmed, claims);
  if (session.expired()) return { error: "That token has expired — paste a new token." };
  return { session };
}

/**
 * Take a token from the URL fragment (`#token=...`, the one-click link `make run` prints), store it
 * and remove it from the address bar and history. Returns true when one was found.
 */
export function adoptFragmentToken() {
  const hash = window.location.hash.replace(/^#/, "");
  if (!hash) return false;
  const params = new URLSearchParams(hash);
  const token = params.get("token");
  if (!token) return false;
  params.delete("token");
  const rest = params.toString();
  const url = window.location.pathname + window.location.search + (rest ? `#${rest}` : "");
  window.history.replaceState(null, "", url);
  store(token);
  return true;
}

export function stored() {
  try {
    return window.sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function store(token) {
  try {
    window.sessionStorage.setItem(KEY, token.trim());
  } catch {
    // Storage disabled: the session lasts as long as the page.
  }
}

export function forget() {
  try {
    window.sessionStorage.removeItem(KEY);
  } catch {
    // nothing stored
  }
}
