// The REST API client. The JWT lives in this module's memory only (never in
// localStorage or a cookie): a reload means logging in again. Every error the
// server sends is `{error, message}`; `ApiError` keeps both, and the field a
// validation error names (`field \`mounts[0].steps[1].pattern\`: …`).

let token: string | null = null
let onUnauthorized: ((message: string) => void) | null = null

/** Sets (or clears) the bearer token used by every request. */
export function setToken(t: string | null): void {
  token = t
}

/** The current bearer token, for the few places that build requests themselves (PouchDB). */
export function getToken(): string | null {
  return token
}

/** Called once by the auth provider: what to do when a request comes back 401. */
export function setUnauthorizedHandler(f: ((message: string) => void) | null): void {
  onUnauthorized = f
}

/** An error answered by the API (or the network), in words a person can read. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  /** The field named by a validation error, e.g. `mounts[0].steps[1].pattern`. */
  readonly field: string | null

  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.field = fieldOf(message)
  }

  /** The message without its `field \`x\`: ` prefix (shown next to the field itself). */
  get detail(): string {
    return this.field ? this.message.replace(/^field `[^`]*`:\s*/, '') : this.message
  }
}

/** `field \`a.b\`: problem` → `a.b`. */
export function fieldOf(message: string): string | null {
  const m = /^field `([^`]+)`/.exec(message)
  return m ? m[1] : null
}

/** True when the error says the server could not be reached at all. */
export function isOffline(e: unknown): boolean {
  return e instanceof ApiError && e.status === 0
}

export interface RequestOptions {
  method?: string
  body?: unknown
  query?: Record<string, string | number | boolean | null | undefined>
  signal?: AbortSignal
  /** Do not treat a 401 as an expired session (the login call itself). */
  anonymous?: boolean
}

/** Builds `/api/...?query`, skipping null and undefined values. */
export function apiUrl(path: string, query?: RequestOptions['query']): string {
  const qs = new URLSearchParams()
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v))
  }
  const s = qs.toString()
  return s ? `${path}?${s}` : path
}

/** Sends one request and decodes its JSON answer (`undefined` for 204). */
export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (token && !opts.anonymous) headers.Authorization = `Bearer ${token}`
  let body: BodyInit | undefined
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(opts.body)
  }
  let res: Response
  try {
    res = await fetch(apiUrl(path, opts.query), {
      method: opts.method ?? 'GET',
      headers,
      body,
      signal: opts.signal,
    })
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e
    throw new ApiError(0, 'offline', 'The server cannot be reached. Retrying…')
  }
  if (res.status === 204) return undefined as T
  const text = await res.text()
  let json: unknown = undefined
  if (text) {
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
  }
  if (!res.ok) {
    const b = (json ?? {}) as { error?: string; message?: string; reason?: string }
    const message =
      b.message ?? b.reason ?? (res.status >= 500 ? `The server failed (${res.status}).` : res.statusText)
    const err = new ApiError(res.status, b.error ?? `http_${res.status}`, message)
    if (res.status === 401 && !opts.anonymous && token) {
      onUnauthorized?.('Your session has expired. Please log in again.')
    }
    throw err
  }
  return json as T
}

/** Percent-encodes each segment of a virtual path for `/api/vfs/directories/{path}`. */
export function encodeVirtualPath(path: string): string {
  return path
    .split('/')
    .filter((s) => s !== '')
    .map(encodeURIComponent)
    .join('/')
}
