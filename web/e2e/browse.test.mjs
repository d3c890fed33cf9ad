// The file browser: browse, open the detail drawer, add and remove a label,
// download a file that lives on another node and compare its bytes, and see a
// file created on disk appear within seconds (live).
import assert from 'node:assert/strict'
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { SAMPLE_DIR, apiRequest, apiToken, eventually, go, launch, login, newPage, sha256, shot } from './harness.mjs'

let browser, page, token
before(async () => {
  browser = await launch()
  page = await newPage(browser)
  await login(page)
  token = await apiToken()
})
after(async () => {
  await browser?.close()
})

const row = (name) => page.locator(`[data-testid=file-row][data-name="${name}"]`)

async function openFolder(path) {
  await go(page, `/files${path}`)
  await page.locator('[data-testid=file-table]').waitFor()
}

test('browsing: the tree, breadcrumbs and table show the sample tree; a directory opens on double-click', async () => {
  await openFolder('/sample')
  await row('documents').waitFor()
  assert.ok(await row('README.md').isVisible())
  await row('documents').dblclick()
  await page.waitForURL((u) => decodeURIComponent(u.pathname) === '/files/sample/documents')
  await row('inventory.csv').waitFor()
  const crumbs = await page.locator('[data-testid=breadcrumbs]').innerText()
  assert.match(crumbs, /sample/)
  assert.match(crumbs, /documents/)
  // The inline filter narrows the listing.
  await page.locator('[data-testid=file-filter]').fill('inventory')
  await eventually('the filter to apply', async () => (await page.locator('[data-testid=file-row]').count()) === 1)
  await page.locator('[data-testid=file-filter]').fill('')
})

test('the detail drawer: metadata, and a label added and removed (direct labels solid, stored through the API)', async () => {
  await openFolder('/sample')
  await row('README.md').dblclick()
  const drawer = page.locator('[data-testid=file-drawer]')
  await drawer.waitFor()
  await drawer.getByText('README.md').first().waitFor()
  const label = `e2e-${Date.now()}`
  await page.locator('[data-testid=label-input]').fill(label)
  await page.locator('[data-testid=label-add]').click()
  const chip = drawer.locator(`[data-label="${label}"]`)
  await chip.waitFor()
  assert.equal(await chip.getAttribute('data-inherited'), 'false')
  await shot(page, 'file-drawer')
  // The label is stored: the API says so.
  const fileId = await eventually('the file id of README.md', async () => {
    const r = await apiRequest('GET', '/api/search?q=README.md', { token })
    return r.json.items.find((f) => f.name === 'README.md')?._id ?? r.json.items.find((f) => f.name === 'README.md')?.id
  })
  const eff = await apiRequest('GET', `/api/labels/effective?file_id=${encodeURIComponent(fileId)}`, { token })
  assert.ok(JSON.stringify(eff.json).includes(label), `effective labels: ${JSON.stringify(eff.json)}`)
  // Removed again.
  await drawer.getByRole('button', { name: `Remove label ${label}` }).click()
  await chip.waitFor({ state: 'detached' })
  await eventually('the label to be gone on the server', async () => {
    const e = await apiRequest('GET', `/api/labels/effective?file_id=${encodeURIComponent(fileId)}`, { token })
    return !JSON.stringify(e.json).includes(label)
  })
  await page.keyboard.press('Escape')
  await drawer.waitFor({ state: 'detached' })
})

test('a download of a file that lives on the agent node (fetched by the server from its transfer endpoint) has the exact bytes', async () => {
  await openFolder('/sample/documents')
  await row('inventory.csv').dblclick()
  const drawer = page.locator('[data-testid=file-drawer]')
  await drawer.waitFor()
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=file-download]').click()])
  assert.equal(download.suggestedFilename(), 'inventory.csv')
  const got = readFileSync(await download.path())
  const want = readFileSync(join(SAMPLE_DIR, 'documents', 'inventory.csv'))
  assert.equal(got.length, want.length)
  assert.equal(sha256(got), sha256(want))
  await page.keyboard.press('Escape')
})

test('live: a file created on disk appears in the open folder within seconds, without a reload', async () => {
  await openFolder('/sample')
  const name = `live-${Date.now()}.txt`
  const path = join(SAMPLE_DIR, name)
  writeFileSync(path, 'created while the browser watched\n')
  const start = Date.now()
  try {
    await row(name).waitFor({ timeout: 60000 })
    const secs = (Date.now() - start) / 1000
    console.log(`live: ${name} appeared in the browser ${secs.toFixed(1)} s after it was written`)
  } finally {
    unlinkSync(path)
  }
})
