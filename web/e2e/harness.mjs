// Shared pieces of the end-to-end tests: the stack started by scripts/web.sh
// e2e (the demo on free ports), a Chromium launcher, login, in-app navigation,
// screenshots, axe-core, and API/CouchDB requests from Node.
//
// The JWT lives in the page's memory only, so tests never reload a page after
// logging in: `go()` navigates inside the app (history.pushState + popstate).
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const require = createRequire(import.meta.url)
const here = dirname(fileURLToPath(import.meta.url))

function env(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run the end-to-end tests with scripts/web.sh e2e`)
  return v
}

export const BASE = env('MOSAICFS_E2E_BASE')
export const DEMO_DIR = env('MOSAICFS_E2E_DEMO_DIR')
export const COUCHDB = env('MOSAICFS_E2E_COUCHDB')
export const SAMPLE_DIR = join(DEMO_DIR, 'sample')
export const ACCESS_KEY = 'MOSAICFS_0123456789ABCDEF'
export const SECRET = 'demo-secret-key-0123456789'
export const COUCH_AUTH = 'Basic ' + Buffer.from('admin:demo-password').toString('base64')
export const OUT = join(here, 'out')
const CA = readFileSync(join(DEMO_DIR, 'server', 'tls-cert.pem'))

mkdirSync(join(OUT, 'screenshots'), { recursive: true })
mkdirSync(join(OUT, 'axe'), { recursive: true })

/** Headless Debian Chromium with the flags this machine's closed network needs. */
export async function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/**
 * A new browser context and page. The server's self-signed certificate is
 * accepted (the CLI pins it; a browser user accepts it once).
 */
export async function newPage(browser, opts = {}) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1360, height: 860 },
    acceptDownloads: true,
    ...opts,
  })
  const page = await context.newPage()
  page.errors = []
  page.on('pageerror', (e) => page.errors.push(e.message))
  return page
}

/** Logs in through the form; returns the JWT the server answered (read from the response). */
export async function login(page, key = ACCESS_KEY, secret = SECRET) {
  await page.goto(`${BASE}/login`)
  await page.fill('#access_key_id', key)
  await page.fill('#secret_key', secret)
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/auth/login')),
    page.click('button[type=submit]'),
  ])
  const body = await resp.json()
  await page.waitForURL((u) => !u.pathname.startsWith('/login'))
  await page.locator('#main').waitFor()
  return body.token
}

/** Client-side navigation (keeps the in-memory session). */
export async function go(page, path) {
  await page.evaluate((p) => {
    window.history.pushState({}, '', p)
    window.dispatchEvent(new PopStateEvent('popstate'))
  }, path)
  await page.waitForURL((u) => u.pathname + u.search === path || u.pathname === path.split('?')[0])
}

export async function shot(page, name) {
  const path = join(OUT, 'screenshots', `${name}.png`)
  await page.screenshot({ path, fullPage: false })
  return path
}

/** Runs axe-core on the page; writes the report; returns the serious and critical violations. */
export async function axe(page, name) {
  await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') })
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] })
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5),
    }))
  })
  writeFileSync(join(OUT, 'axe', `${name}.json`), JSON.stringify(result, null, 2))
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical')
}

/** A request to the API from Node, pinned to the demo's certificate. */
export function apiRequest(method, path, { token, body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, BASE)
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
    const req = httpsRequest(
      url,
      {
        method,
        ca: CA,
        headers: {
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
          ...(data !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => {
          const buf = Buffer.concat(chunks)
          let json
          try {
            json = JSON.parse(buf.toString('utf8'))
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode, headers: res.headers, body: buf, json })
        })
      },
    )
    req.on('error', reject)
    if (data !== undefined) req.write(data)
    req.end()
  })
}

/** A token for API calls made by the test itself (not the page's). */
export async function apiToken() {
  const r = await apiRequest('POST', '/api/auth/login', { body: { access_key_id: ACCESS_KEY, secret_key: SECRET } })
  if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.body}`)
  return r.json.token
}

/** A request straight to the control plane's CouchDB, as its admin. */
export async function couch(method, path, body) {
  const r = await fetch(`${COUCHDB}${path}`, {
    method,
    headers: { Authorization: COUCH_AUTH, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  return { status: r.status, json: await r.json().catch(() => undefined) }
}

export function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex')
}

/** Polls `f` until it returns a truthy value or `ms` pass; returns the value or throws with `what`. */
export async function eventually(what, f, ms = 30000, every = 250) {
  const deadline = Date.now() + ms
  let last
  for (;;) {
    try {
      last = await f()
      if (last) return last
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last})`)
    await new Promise((r) => setTimeout(r, every))
  }
}
