// Search: Ctrl+K from any page focuses the search box; typing is debounced
// (one request per pause, not per key); label chips are ANDed; results load a
// page at a time as the list scrolls.
import assert from 'node:assert/strict'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { SAMPLE_DIR, apiRequest, apiToken, eventually, go, launch, login, newPage, shot } from './harness.mjs'

const BULK = join(SAMPLE_DIR, 'search-e2e')
const BULK_FILES = 230
const tag = Date.now().toString(36)
const alpha = `alpha-${tag}`
const beta = `beta-${tag}`
let browser, page, token
const labelled = []

before(async () => {
  browser = await launch()
  page = await newPage(browser)
  await login(page)
  token = await apiToken()
})
after(async () => {
  for (const id of labelled) await apiRequest('DELETE', `/api/labels/assignments/${encodeURIComponent(id)}`, { token }).catch(() => {})
  rmSync(BULK, { recursive: true, force: true })
  await browser?.close()
})

const searchRequests = []
function countSearches(r) {
  if (new URL(r.url()).pathname === '/api/search') searchRequests.push(r.url())
}

test('Ctrl+K focuses search from any page; typing sends one request per pause', async () => {
  await go(page, '/storage')
  await page.locator('#main').waitFor()
  await page.keyboard.press('Control+k')
  await page.waitForURL((u) => u.pathname === '/search')
  const input = page.locator('[data-testid=search-input]')
  await eventually('the search box to have focus', async () => input.evaluate((el) => el === document.activeElement), 5000)
  page.on('request', countSearches)
  try {
    await input.pressSequentially('report-q', { delay: 40 })
    await eventually('six quarterly reports', async () => (await page.locator('[data-testid=search-result]').count()) === 6, 15000)
    const names = await page.locator('[data-testid=search-result]').evaluateAll((els) => els.map((e) => e.dataset.name).sort())
    assert.deepEqual(names, [1, 2, 3, 4, 5, 6].map((i) => `report-q${i}.txt`))
    // Eight key presses 40 ms apart: the debounce turns them into one search
    // (two at most, if the machine stalls for a debounce period mid-word).
    assert.ok(searchRequests.length >= 1 && searchRequests.length <= 2, `searches sent: ${searchRequests.join(' ')}`)
    console.log(`search: 8 key presses → ${searchRequests.length} request(s)`)
    await shot(page, 'search-results')
  } finally {
    page.off('request', countSearches)
  }
})

test('label chips are ANDed', async () => {
  const ids = {}
  for (const i of [1, 2, 3]) {
    const r = await apiRequest('GET', `/api/search?q=report-q${i}.txt`, { token })
    ids[i] = r.json.items.find((f) => f.name === `report-q${i}.txt`).id
  }
  const put = async (i, labels) => {
    const r = await apiRequest('PUT', `/api/labels/assignments/${encodeURIComponent(ids[i])}`, { token, body: { labels } })
    assert.equal(r.status, 200, JSON.stringify(r.json))
    labelled.push(ids[i])
  }
  await put(1, [alpha])
  await put(2, [alpha, beta])
  await put(3, [beta])
  await go(page, '/search')
  const chip = (l) => page.locator(`[data-testid=label-filter][data-label="${l}"]`)
  await chip(alpha).waitFor({ timeout: 20000 })
  await page.locator('[data-testid=search-input]').fill('')
  await chip(alpha).click()
  const results = page.locator('[data-testid=search-result]')
  const shown = () => results.evaluateAll((els) => els.map((e) => e.dataset.name).sort().join(','))
  await eventually('the alpha files', async () => (await shown()) === 'report-q1.txt,report-q2.txt', 15000)
  await chip(beta).click()
  await eventually('only the file with both labels', async () => (await shown()) === 'report-q2.txt', 15000)
  assert.equal(await chip(alpha).getAttribute('aria-pressed'), 'true')
  await shot(page, 'search-labels-anded')
  await chip(alpha).click()
  await eventually('the beta files', async () => (await shown()) === 'report-q2.txt,report-q3.txt', 15000)
  await chip(beta).click()
})

test('infinite scroll: more results load as the list reaches its end', async () => {
  mkdirSync(BULK, { recursive: true })
  for (let i = 0; i < BULK_FILES; i++) writeFileSync(join(BULK, `bulk-${tag}-${String(i).padStart(4, '0')}.txt`), `bulk file ${i}\n`)
  await eventually(`${BULK_FILES} bulk files indexed`, async () => {
    const r = await apiRequest('GET', `/api/search?q=${encodeURIComponent(`bulk-${tag}-*`)}&limit=1000`, { token })
    return r.json?.items?.length === BULK_FILES
  }, 90000, 1000)
  await go(page, `/search?q=${encodeURIComponent(`bulk-${tag}-*`)}`)
  const results = page.locator('[data-testid=search-result]')
  await eventually('the first page', async () => (await results.count()) === 100, 15000)
  assert.match(await page.locator('[data-testid=search-count]').innerText(), /more below/)
  for (const want of [200, BULK_FILES]) {
    await results.last().scrollIntoViewIfNeeded()
    await page.mouse.wheel(0, 20000)
    await eventually(`${want} results after scrolling`, async () => (await results.count()) === want, 15000)
  }
  const names = await results.evaluateAll((els) => els.map((e) => e.dataset.name))
  assert.equal(new Set(names).size, BULK_FILES, 'no duplicates across pages')
  assert.doesNotMatch(await page.locator('[data-testid=search-count]').innerText(), /more below/)
})
