// The API client: the staff session lives in sessionStorage (this tab only, never a cookie), and
// every call sends it as `Authorization: Bearer`. No cookie means no ambient credential that
// another site could make the browser send: nothing here can be forged across sites.

const KEY = "usher.staff.session";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function loadSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (session && new Date(session.expires_at).getTime() > Date.now()) return session;
  } catch {
    // a damaged entry: sign in again
  }
  sessionStorage.removeItem(KEY);
  return null;
}

export function saveSession(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

export function authHeaders() {
  const session = loadSession();
  return session ? { Authorization: `Bearer ${session.token}` } : {};
}

let onUnauthorized = () => {};
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

export async function api(path, { method = "GET", body, query } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of query || []) url.searchParams.append(name, value);
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  if (response.status === 401 && path !== "/v1/staff/sessions") onUnauthorized();
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
