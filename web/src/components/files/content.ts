// File bytes for downloads and previews. The way in is a short-lived ticket
// URL (`POST /api/files/{id}/content-url`) that needs no Authorization header,
// so <a download>, <img>, <iframe> and <video> (with Range) can use it. On a
// server without that route the bytes are fetched with the bearer token and
// handed over as a blob: URL (whole file, so only up to BLOB_LIMIT).
import { api, ApiError, getToken } from '@/lib/api'
import { TEXT_PREVIEW_BYTES } from './logic'

export type Disposition = 'inline' | 'attachment'

export interface ContentUrl {
  url: string
  expires_at?: string
}

/** Largest file fetched whole into a blob when the ticket route is missing. */
export const BLOB_LIMIT = 64 * 1024 * 1024

/** True when the server does not know the route at all (an older server). */
export function isMissingRoute(e: unknown): boolean {
  return e instanceof ApiError && (e.status === 405 || (e.status === 404 && /no such route/i.test(e.message)))
}

export function contentUrl(fileId: string, disposition: Disposition): Promise<ContentUrl> {
  return api<ContentUrl>(`/api/files/${encodeURIComponent(fileId)}/content-url`, {
    method: 'POST',
    body: { disposition },
  })
}

/** An error answer of a content request, in words. */
async function contentError(res: Response): Promise<ApiError> {
  let message = res.status >= 500 ? `The server failed (${res.status}).` : res.statusText || `HTTP ${res.status}`
  let code = `http_${res.status}`
  try {
    const b = (await res.json()) as { error?: string; message?: string }
    if (b.message) message = b.message
    if (b.error) code = b.error
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, code, message)
}

/** GET of the bytes with the bearer token (the fallback path). */
async function fetchWithToken(fileId: string, range?: string, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = {}
  const t = getToken()
  if (t) headers.Authorization = `Bearer ${t}`
  if (range) headers.Range = range
  let res: Response
  try {
    res = await fetch(`/api/files/${encodeURIComponent(fileId)}/content`, { headers, signal })
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e
    throw new ApiError(0, 'offline', 'The server cannot be reached.')
  }
  if (!res.ok) throw await contentError(res)
  return res
}

export interface Resolved {
  url: string
  /** Call when the URL is no longer needed (revokes a blob: URL). */
  release: () => void
}

/**
 * A URL for the file's bytes usable without a header: the ticket URL, or on
 * a server without the ticket route a blob: URL (refused above BLOB_LIMIT).
 */
export async function resolveContentUrl(fileId: string, disposition: Disposition, size: number, signal?: AbortSignal): Promise<Resolved> {
  try {
    const r = await contentUrl(fileId, disposition)
    return { url: r.url, release: () => {} }
  } catch (e) {
    if (!isMissingRoute(e)) throw e
  }
  if (size > BLOB_LIMIT) {
    throw new ApiError(
      501,
      'no_content_url',
      'This server cannot hand out content links yet (POST /api/files/{id}/content-url is missing), and the file is too large to fetch whole.',
    )
  }
  const res = await fetchWithToken(fileId, undefined, signal)
  const url = URL.createObjectURL(await res.blob())
  return { url, release: () => URL.revokeObjectURL(url) }
}

/** Makes the browser save `url` as `name`. */
export function triggerDownload(url: string, name: string): void {
  const a = document.createElement('a')
  a.href = url
  a.download = name
  a.rel = 'noopener'
  a.style.display = 'none'
  document.body.appendChild(a)
  a.click()
  a.remove()
}

/** Downloads a file through a ticket URL (attachment). */
export async function downloadFile(fileId: string, name: string, size: number): Promise<void> {
  const r = await resolveContentUrl(fileId, 'attachment', size)
  triggerDownload(r.url, name)
  // A blob: URL must outlive the click that starts the download.
  window.setTimeout(r.release, 60_000)
}

export interface TextHead {
  text: string
  /** The file is longer than what was read. */
  truncated: boolean
}

/** Decodes the first bytes of a file as UTF-8, dropping a character cut in half at the end. */
export function decodeHead(bytes: Uint8Array, fileSize: number, limit = TEXT_PREVIEW_BYTES): TextHead {
  const slice = bytes.length > limit ? bytes.subarray(0, limit) : bytes
  const truncated = fileSize > slice.length
  let end = slice.length
  if (truncated) {
    // Back up over a partial UTF-8 sequence at the cut.
    let i = end - 1
    let cont = 0
    while (i >= 0 && cont < 3 && (slice[i] & 0xc0) === 0x80) {
      i--
      cont++
    }
    if (i >= 0) {
      const b = slice[i]
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1
      if (need > cont + 1) end = i
    }
  }
  return { text: new TextDecoder('utf-8').decode(slice.subarray(0, end)), truncated }
}

/** The first 64 KiB of a file as text (Range request on the ticket URL). */
export async function fetchTextHead(fileId: string, size: number, signal?: AbortSignal): Promise<TextHead> {
  if (size === 0) return { text: '', truncated: false }
  const range = `bytes=0-${TEXT_PREVIEW_BYTES - 1}`
  let res: Response
  let ticket: ContentUrl | null = null
  try {
    ticket = await contentUrl(fileId, 'inline')
  } catch (e) {
    if (!isMissingRoute(e)) throw e
  }
  if (ticket) {
    try {
      res = await fetch(ticket.url, { headers: { Range: range }, signal })
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e
      throw new ApiError(0, 'offline', 'The server cannot be reached.')
    }
    if (!res.ok) throw await contentError(res)
  } else {
    res = await fetchWithToken(fileId, range, signal)
  }
  const buf = new Uint8Array(await res.arrayBuffer())
  return decodeHead(buf, size)
}
