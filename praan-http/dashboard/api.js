// The REST client: JSON in and out, the API key on every request, the `{success, data}` /
// `{success:false, error, code, details}` envelope unwrapped, and errors as ApiError.

import { getKey, promptForKey } from './auth.js';

/** An error answered by the API (or a failure to reach it: status 0). */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details ?? null;
  }

  /** The error for people: the server's message, what it means, the status and code. */
  describe() {
    if (this.status === 0) return this.message;
    const hint = {
      401: 'An API key is required or the key was refused.',
      403: 'Read-only keys cannot send commands or change anything: use a key with write scope (“Forget API key”, then enter it).',
      404: 'Not found.',
      409: 'Conflict.',
      413: 'The request is too large.',
      429: 'Too many requests: rate limited, try again in a moment.',
      503: 'The server is not ready.',
    }[this.status];
    const field = this.details && this.details.field ? ` [field: ${this.details.field}]` : '';
    const head = hint && this.status === 403 ? `Forbidden — ${this.message}. ${hint}` : this.message;
    return `${head}${field} (HTTP ${this.status}${this.code ? `, ${this.code}` : ''})`;
  }
}

/** The headers every API request carries. */
export function authHeaders() {
  const key = getKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** A path with query parameters (undefined/null ones left out). */
export function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** `/api/device/<id>` etc., with the id encoded. */
export function devicePath(deviceId, rest = '') {
  return `/api/device/${encodeURIComponent(deviceId)}${rest}`;
}

/**
 * Sends a request; answers the whole success envelope (`data`, and `count` for lists). On 401
 * asks for a key and retries; a cancelled prompt becomes an ApiError 401.
 */
export async function request(method, path, { body, signal } = {}) {
  for (;;) {
    const headers = { accept: 'application/json', ...authHeaders() };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method, headers, signal, cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new ApiError(0, 'network', `Cannot reach the server (${err.message}).`);
    }
    const payload = await readJson(res);
    if (res.status === 401) {
      const message = payload?.error || 'unauthorized';
      try {
        await promptForKey(message);
      } catch {
        throw new ApiError(401, payload?.code || 'unauthorized', message, payload?.details);
      }
      continue; // retry with the key just entered
    }
    if (!res.ok || !payload || payload.success === false) {
      throw new ApiError(res.status, payload?.code || `http_${res.status}`,
        payload?.error || `${res.status} ${res.statusText || 'error'}`, payload?.details);
    }
    return payload;
  }
}

async function readJson(res) {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** GET, answering `data`. */
export async function get(path, query, opts) {
  return (await request('GET', withQuery(path, query), opts)).data;
}

/** POST with a JSON body, answering `data`. */
export async function post(path, body, opts) {
  return (await request('POST', path, { ...opts, body })).data;
}

/** PUT with a JSON body, answering `data`. */
export async function put(path, body, opts) {
  return (await request('PUT', path, { ...opts, body })).data;
}

/** DELETE, answering `data`. */
export async function del(path, opts) {
  return (await request('DELETE', path, opts)).data;
}
