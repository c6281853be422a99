// REST client: relative URLs (the page may sit behind a path prefix), Bearer token, JSON errors.

/** An error answer from the gateway: status, message and field problems. */
export class ApiError extends Error {
  constructor(status, message, errors = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.errors = Array.isArray(errors) ? errors : [];
  }

  /** One line for people: the message plus the fields it names. */
  describe() {
    const fields = this.errors
      .filter((e) => e && typeof e === "object")
      .map((e) => `${e.field}: ${e.message}`)
      .join("; ");
    return fields ? `${this.message} (${fields})` : this.message;
  }
}

export class Api {
  /** `onUnauthorized` is called on any 401 (expired or invalid token). */
  constructor(token, onUnauthorized) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}`, Accept: "application/json" };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(new URL(path, document.baseURI), init);
    } catch {
      throw new ApiError(0, "The gateway cannot be reached");
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const message = (data && typeof data.message === "string" && data.message) || `HTTP ${response.status}`;
      const error = new ApiError(response.status, message, data && data.errors);
      if (response.status === 401 && this.onUnauthorized) this.onUnauthorized(error);
      throw error;
    }
    return data;
  }

  get(path, query) {
    const qs = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v !== undefined && v !== null)).toString() : "";
    return this.request("GET", qs ? `${path}?${qs}` : path);
  }

  post(path, body) {
    return this.request("POST", path, body ?? {});
  }

  put(path, body) {
    return this.request("PUT", path, body);
  }

  patch(path, body) {
    return this.request("PATCH", path, body);
  }

  delete(path) {
    return this.request("DELETE", path);
  }
}

/** Path segment escaping for ids in URLs. */
export function seg(id) {
  return encodeURIComponent(String(id));
}
