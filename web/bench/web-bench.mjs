// The web UI's benchmarks (scripts/bench.sh web), measured in Debian Chromium
// against a running mosaicfs-server whose index holds the seeded documents.
// Prints one JSON object on stdout; bench.sh turns it into table rows.
// Measures and reports; asserts nothing.
//
// Environment: BENCH_BASE (https://127.0.0.1:PORT), BENCH_KEY, BENCH_SECRET,
// BENCH_FLAT_NODE, BENCH_FLAT_DIR, BENCH_FLAT_FILES (the seeded one-directory
// tree), BENCH_NODES (comma-separated node ids to register), BENCH_ROUNDS;
// BENCH_PROFILE=FILE records a V8 CPU profile of the scroll phase into FILE
// (.cpuprofile, opens in Chrome DevTools) and logs its top self-time functions.
import { writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { chromium } from 'playwright-core'

const env = (n) => {
  const v = process.env[n]
  if (!v) throw new Error(`${n} is not set (run through scripts/bench.sh web)`)
  return v
}
const BASE = env('BENCH_BASE')
const KEY = env('BENCH_KEY')
const SECRET = env('BENCH_SECRET')
const FLAT_NODE = env('BENCH_FLAT_NODE')
const FLAT_DIR = env('BENCH_FLAT_DIR')
const FLAT_FILES = Number(env('BENCH_FLAT_FILES'))
const NODES = env('BENCH_NODES').split(',')
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const log = (...a) => console.error('web-bench:', ...a)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]

function api(method, path, { token, body } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body)
    const req = httpsRequest(
      new URL(path, BASE),
      {
        method,
        rejectUnauthorized: false, // the bench server's fresh self-signed certificate
        headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(data ? { 'Content-Type': 'application/json' } : {}) },
      },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let json
          try {
            json = JSON.parse(text)
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode, json, text })
        })
      },
    )
    req.on('error', reject)
    if (data) req.write(data)
    req.end()
  })
}

async function until(what, f, ms, every = 250) {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await f().catch(() => null)
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, every))
  }
}

const t0 = Date.now()
const token = (await api('POST', '/api/auth/login', { body: { access_key_id: KEY, secret_key: SECRET } })).json?.token
if (!token) throw new Error('login to the bench server failed')

// The server's index holds every seeded document once `/` lists (503 before).
await until('the server index', async () => (await api('GET', '/api/vfs?path=/', { token })).status === 200, 30 * 60 * 1000, 500)
const indexReadyS = (Date.now() - t0) / 1000
log(`index ready after ${indexReadyS.toFixed(1)} s`)

// The seeded nodes, registered as agents would (so the dashboard has cards),
// and a virtual directory over the one big directory.
for (const id of NODES) {
  const r = await api('POST', '/api/nodes', { token, body: { node_id: id, friendly_name: id, platform: 'linux', access_key_id: KEY } })
  if (r.status !== 201 && r.status !== 409) throw new Error(`registering ${id}: ${r.status} ${r.text}`)
}
const vdir = await api('POST', '/api/vfs/directories', {
  token,
  body: { virtual_path: '/big', mounts: [{ source: { node_id: FLAT_NODE, export_path: FLAT_DIR }, strategy: 'prefix_replace' }] },
})
if (vdir.status !== 201 && vdir.status !== 409) throw new Error(`creating /big: ${vdir.status} ${vdir.text}`)
await until('/big to list every entry', async () => (await api('GET', '/api/vfs?path=/big', { token })).json?.total === FLAT_FILES, 120000)

// Flow 3 on the server has passed every seeded document when the directory
// written after them is in the browser database.
await until('the browser database to hold /big', async () => {
  const r = await api('GET', '/api/browser-db/_all_docs?startkey=%22dir%3A%3A%22&endkey=%22dir%3A%3A%EF%BF%B0%22', { token })
  return r.json?.rows?.length > 0 && (await api('GET', '/api/browser-db/', { token })).json?.doc_count >= NODES.length + 1
}, 30 * 60 * 1000, 1000)
const flow3ReadyS = (Date.now() - t0) / 1000
const browserDbInfo = (await api('GET', '/api/browser-db/', { token })).json
log(`browser database ready after ${flow3ReadyS.toFixed(1)} s: ${browserDbInfo.doc_count} documents`)

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})

async function freshPage() {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1360, height: 860 } })
  const page = await context.newPage()
  const responses = []
  page.on('requestfinished', async (req) => {
    const sizes = await req.sizes().catch(() => null)
    responses.push({ url: req.url(), type: req.resourceType(), body: sizes?.responseBodySize ?? 0 })
  })
  return { context, page, responses }
}

/** One cold visit: first page JS, login → dashboard painted, replica first sync. */
async function coldVisit() {
  const { context, page, responses } = await freshPage()
  await page.goto(`${BASE}/login`, { waitUntil: 'networkidle' })
  const firstPage = responses.filter((r) => r.type === 'script' || r.url.endsWith('.js'))
  const jsBytes = firstPage.reduce((s, r) => s + r.body, 0)
  const cssBytes = responses.filter((r) => r.type === 'stylesheet').reduce((s, r) => s + r.body, 0)
  await page.fill('#access_key_id', KEY)
  await page.fill('#secret_key', SECRET)
  const start = Date.now()
  await page.click('button[type=submit]')
  // Painted: the node cards (from the replica) and the totals are on screen.
  await page.locator('[data-testid=node-card]').first().waitFor({ timeout: 60000 })
  await page.locator('[data-testid=totals]').waitFor({ timeout: 60000 })
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))
  const dashboardMs = Date.now() - start
  await page.locator('[data-testid=sync-state][data-state=live]').waitFor({ timeout: 10 * 60 * 1000 })
  const syncMs = Date.now() - start
  const usage = await page.evaluate(async () => (await navigator.storage.estimate()).usageDetails ?? { total: (await navigator.storage.estimate()).usage })
  const jsAfterLogin = responses.filter((r) => r.type === 'script' || r.url.endsWith('.js')).reduce((s, r) => s + r.body, 0)
  return { context, page, jsBytes, cssBytes, jsFiles: firstPage.length, jsAfterLogin, dashboardMs, syncMs, usage }
}

/** In-app navigation to a path; resolves with ms until a file row is painted. */
async function openBig(page) {
  return page.evaluate(async () => {
    const t = performance.now()
    window.history.pushState({}, '', '/files/big')
    window.dispatchEvent(new PopStateEvent('popstate'))
    await new Promise((resolve) => {
      const check = () => (document.querySelector('[data-testid=file-row]') ? resolve() : requestAnimationFrame(check))
      check()
    })
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))
    return performance.now() - t
  })
}
async function leave(page) {
  await page.evaluate(() => {
    window.history.pushState({}, '', '/')
    window.dispatchEvent(new PopStateEvent('popstate'))
  })
  await page.locator('[data-testid=health-strip]').waitFor()
}
const visits = []
for (let i = 0; i < ROUNDS; i++) {
  const v = await coldVisit()
  // The big directory, never listed in this browser before; then again from
  // the page's cache after going back to the dashboard.
  v.bigColdMs = await openBig(v.page)
  await leave(v.page)
  v.bigWarmMs = await openBig(v.page)
  log(`cold visit ${i + 1}: first page JS ${v.jsBytes} B in ${v.jsFiles} files, dashboard painted ${v.dashboardMs} ms, replica live ${v.syncMs} ms, storage ${JSON.stringify(v.usage)}, /big first rows ${v.bigColdMs.toFixed(0)} ms cold, ${v.bigWarmMs.toFixed(0)} ms cached`)
  visits.push(v)
  if (i < ROUNDS - 1) await v.context.close()
}
const last = visits[visits.length - 1]
const page = last.page

const shownTotal = await page.locator('[data-testid=file-count]').innerText().catch(() => '')

// Scrolling: 4 s of continuous scrolling (one step per frame, 2 rows a frame),
// frame intervals from requestAnimationFrame. A frame is dropped when its
// interval exceeds 1.5 × the display's frame time.
const profileFile = process.env.BENCH_PROFILE
const cdp = profileFile ? await page.context().newCDPSession(page) : null
if (cdp) {
  await cdp.send('Profiler.enable')
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
  await cdp.send('Profiler.start')
}
const scroll = await page.evaluate(async () => {
  const row = document.querySelector('[data-testid=file-row]')
  let el = row
  while (el && !(el.scrollHeight > el.clientHeight + 10 && getComputedStyle(el).overflowY !== 'visible')) el = el.parentElement
  if (!el) return { error: 'no scroll container' }
  const rowH = row.getBoundingClientRect().height
  // The display's frame time, from 30 idle frames.
  const idle = []
  let prev = await new Promise((r) => requestAnimationFrame(r))
  for (let i = 0; i < 30; i++) {
    const t = await new Promise((r) => requestAnimationFrame(r))
    idle.push(t - prev)
    prev = t
  }
  idle.sort((a, b) => a - b)
  const frame = idle[15]
  const intervals = []
  const start = performance.now()
  prev = start
  while (performance.now() - start < 4000) {
    el.scrollTop += rowH * 2
    const t = await new Promise((r) => requestAnimationFrame(r))
    intervals.push(t - prev)
    prev = t
  }
  const dropped = intervals.filter((d) => d > frame * 1.5).length
  const secs = (performance.now() - start) / 1000
  return { frameMs: frame, frames: intervals.length, dropped, fps: intervals.length / secs, worstMs: Math.max(...intervals), scrolledRows: Math.round(el.scrollTop / rowH) }
})
log(`scroll: ${JSON.stringify(scroll)}`)
if (cdp) {
  const { profile } = await cdp.send('Profiler.stop')
  writeFileSync(profileFile, JSON.stringify(profile))
  const dt = profile.timeDeltas ?? []
  const self = new Map()
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  profile.samples.forEach((id, i) => {
    const n = byId.get(id)
    const f = n.callFrame
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0) / 1000)
  })
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  log(`CPU profile of the scroll phase in ${profileFile} (${total.toFixed(0)} ms sampled); top self time:`)
  for (const [k, ms] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20)) log(`  ${ms.toFixed(1).padStart(8)} ms  ${k}`)
}
const replicaDocs = await (async () => {
  await page.evaluate(() => {
    window.history.pushState({}, '', '/settings?tab=about')
    window.dispatchEvent(new PopStateEvent('popstate'))
  })
  const el = page.locator('[data-testid=replica-docs]')
  await el.waitFor({ timeout: 30000 })
  return Number((await el.innerText()).replace(/[^0-9]/g, ''))
})()
await browser.close()

console.log(
  JSON.stringify({
    index_ready_s: indexReadyS,
    flow3_ready_s: flow3ReadyS,
    browser_db_docs: browserDbInfo.doc_count,
    first_page_js_bytes: median(visits.map((v) => v.jsBytes)),
    first_page_js_files: visits[0].jsFiles,
    first_page_css_bytes: median(visits.map((v) => v.cssBytes)),
    dashboard_js_bytes: median(visits.map((v) => v.jsAfterLogin)),
    dashboard_ms: visits.map((v) => v.dashboardMs),
    dashboard_ms_median: median(visits.map((v) => v.dashboardMs)),
    replica_live_ms: visits.map((v) => v.syncMs),
    replica_live_ms_median: median(visits.map((v) => v.syncMs)),
    replica_storage: last.usage,
    replica_docs: replicaDocs,
    big_entries: FLAT_FILES,
    big_shown: shownTotal,
    big_first_rows_cold_ms: visits.map((v) => v.bigColdMs),
    big_first_rows_cold_ms_median: median(visits.map((v) => v.bigColdMs)),
    big_first_rows_cached_ms_median: median(visits.map((v) => v.bigWarmMs)),
    scroll,
  }),
)
