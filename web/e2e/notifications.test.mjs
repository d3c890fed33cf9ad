// Notifications live over PouchDB (plan 7.6) and backup controls (plan 8.4):
// a notification written into the control plane's database (as an agent's
// arrives by replication) shows in the bell with an amber, then red badge,
// grouped by severity; Acknowledge changes the document and the bell
// clears; the dashboard banner shows the active error. Settings → About
// downloads a minimal backup and hides restore on a non-empty database.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { apiRequest, apiToken, couch, eventually, go, launch, login, newPage, shot } from './harness.mjs'

let browser, page, token
const written = []
before(async () => {
  browser = await launch()
  page = await newPage(browser)
  await login(page)
  token = await apiToken()
})
after(async () => {
  for (const id of written) {
    const d = await couch('GET', `/mosaicfs/${encodeURIComponent(id)}`)
    if (d.json?._rev) await couch('DELETE', `/mosaicfs/${encodeURIComponent(id)}?rev=${d.json._rev}`)
  }
  await browser?.close()
})

function notification(key, severity, title) {
  const now = new Date().toISOString()
  const id = `notification::e2e-node::${key}`
  written.push(id)
  return {
    _id: id,
    type: 'notification',
    source: { node_id: 'e2e-node', component: 'storage' },
    severity,
    status: 'active',
    title,
    message: `${title} (written by the e2e test)`,
    condition_key: key,
    first_seen: now,
    last_seen: now,
    occurrence_count: 3,
    updated_at: now,
    actions: [],
  }
}

test('a notification appears live in the bell, is acknowledged there, and the bell clears', async () => {
  await go(page, '/')
  await page.locator('[data-testid=sync-state][data-state=live]').waitFor({ timeout: 30000 })
  const count = page.locator('[data-testid=notification-count]')
  const shown = async () => ((await count.count()) ? Number(await count.innerText()) : 0)
  const before = await shown()
  const warn = notification('e2e_storage', 'warning', 'e2e volume is 97 % full')
  assert.equal((await couch('PUT', `/mosaicfs/${encodeURIComponent(warn._id)}`, warn)).status, 201)
  await eventually('the badge to count the warning', async () => (await shown()) > before)
  await eventually('an amber (or red) badge', async () => ['warning', 'error'].includes(await count.getAttribute('data-severity')))
  const err = notification('e2e_path', 'error', 'e2e watch path inaccessible')
  await couch('PUT', `/mosaicfs/${encodeURIComponent(err._id)}`, err)
  await eventually('the badge to turn red', async () => (await count.getAttribute('data-severity')) === 'error')
  await page.locator('[data-testid=error-banner]').waitFor()

  await page.locator('[data-testid=notification-bell]').click()
  const panel = page.locator('[data-testid=notification-panel]')
  await panel.waitFor()
  const item = panel.locator(`[data-testid=notification][data-id="${warn._id}"]`)
  await item.waitFor()
  assert.equal(await panel.locator('[data-severity-group=warning]').locator(`[data-id="${warn._id}"]`).count(), 1)
  assert.match(await item.innerText(), /×3/)
  await shot(page, 'notification-panel')
  await item.getByRole('button', { name: 'Acknowledge' }).click()
  await eventually('the warning to be acknowledged in CouchDB', async () => (await couch('GET', `/mosaicfs/${encodeURIComponent(warn._id)}`)).json?.status === 'acknowledged')
  await item.waitFor({ state: 'detached' })
  await panel.getByRole('button', { name: 'Acknowledge all' }).click()
  await eventually('the error to be acknowledged', async () => (await couch('GET', `/mosaicfs/${encodeURIComponent(err._id)}`)).json?.status === 'acknowledged')
  await eventually('the bell to clear', async () => (await shown()) === 0)
  const list = await apiRequest('GET', '/api/notifications?status=acknowledged', { token })
  assert.ok(list.json.items.some((n) => n._id === warn._id))
})

test('About offers backup downloads and no restore on a database that holds data', async () => {
  await go(page, '/settings?tab=about')
  await page.locator('[data-testid=backup]').waitFor()
  await page.locator('[data-testid=restore-unavailable]').waitFor()
  assert.equal(await page.locator('[data-testid=restore-section]').count(), 0)
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=backup-minimal]').click()])
  assert.match(download.suggestedFilename(), /^mosaicfs-backup-minimal-\d{8}T\d{6}Z\.json$/)
  const path = await download.path()
  const { readFile } = await import('node:fs/promises')
  const body = JSON.parse(await readFile(path, 'utf8'))
  assert.ok(body.docs.some((d) => d._id === 'dir::root'))
  assert.ok(!body.docs.some((d) => d.type === 'file'), 'a minimal backup has no file documents')
  await shot(page, 'settings-about-backup')
})
