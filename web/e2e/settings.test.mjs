// Settings: a new credential's secret is shown once and works; disable, enable
// and delete take effect on the server; reindex asks the agent; the replica's
// size is shown.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { apiRequest, apiToken, eventually, go, launch, login, newPage, shot } from './harness.mjs'

let browser, page, token
const created = []
before(async () => {
  browser = await launch()
  page = await newPage(browser)
  await login(page)
  token = await apiToken()
})
after(async () => {
  for (const k of created) await apiRequest('DELETE', `/api/credentials/${k}`, { token })
  await browser?.close()
})

test('a credential created in the UI shows its secret once, and the secret logs in', async () => {
  await go(page, '/settings?tab=credentials')
  await page.locator('#credential-name').fill('e2e laptop')
  await page.locator('[data-testid=credential-create] button[type=submit]').click()
  const secretEl = page.locator('[data-testid=credential-secret]')
  await secretEl.waitFor()
  const secret = (await secretEl.innerText()).trim()
  const key = (await page.locator('[data-testid=credential-access-key]').innerText()).trim()
  created.push(key)
  assert.match(key, /^MOSAICFS_[0-9A-F]{16}$/)
  assert.ok(secret.length >= 16)
  await shot(page, 'credential-secret-once')
  await page.getByRole('button', { name: 'I have stored it' }).click()
  await secretEl.waitFor({ state: 'detached' })
  assert.equal(await page.getByText(secret).count(), 0, 'the secret is gone from the page')
  await page.locator(`[data-testid=credential-row][data-access-key-id="${key}"]`).waitFor()
  // The server never hands the secret out again.
  const listed = await apiRequest('GET', `/api/credentials/${key}`, { token })
  assert.ok(!JSON.stringify(listed.json).includes(secret))
  // And it works.
  const other = await newPage(browser)
  await login(other, key, secret)
  await other.context().close()
})

test('a credential disabled in the UI is refused at login, enabled works again, deleted is gone', async () => {
  const made = await apiRequest('POST', '/api/credentials', { token, body: { name: 'e2e toggle' } })
  assert.equal(made.status, 201, JSON.stringify(made.json))
  const key = made.json.access_key_id
  const secret = made.json.secret_key
  created.push(key)
  const loginStatus = async () =>
    (await apiRequest('POST', '/api/auth/login', { body: { access_key_id: key, secret_key: secret } })).status
  // Made outside this page (as the CLI would): the list shows it when the page is opened.
  await go(page, '/')
  await go(page, '/settings?tab=credentials')
  const row = page.locator(`[data-testid=credential-row][data-access-key-id="${key}"]`)
  await row.waitFor()
  await row.locator('[data-testid=credential-enabled]').click()
  await page.locator('[data-testid=credential-confirm-confirm]').click()
  await page.locator(`[data-testid=credential-row][data-access-key-id="${key}"][data-enabled=false]`).waitFor()
  assert.equal(await loginStatus(), 401, 'a disabled credential cannot log in')
  await row.locator('[data-testid=credential-enabled]').click()
  await page.locator(`[data-testid=credential-row][data-access-key-id="${key}"][data-enabled=true]`).waitFor()
  assert.equal(await loginStatus(), 200)
  await row.locator('[data-testid=credential-delete]').click()
  await page.locator('[data-testid=credential-confirm-confirm]').click()
  await row.waitFor({ state: 'detached' })
  assert.equal((await apiRequest('GET', `/api/credentials/${key}`, { token })).status, 404)
  assert.equal(await loginStatus(), 401)
})

test('reindex from the About tab asks the agent node', async () => {
  await go(page, '/settings?tab=about')
  await page.locator('[data-testid=reindex-button]').click()
  await page.locator('[data-testid=reindex-confirm-confirm]').click()
  const result = page.locator('[data-testid=reindex-result]')
  await result.waitFor()
  const nodes = (await apiRequest('GET', '/api/nodes', { token })).json.items.filter((n) => (n.kind ?? 'agent') !== 'bridge')
  assert.ok(Number(await result.getAttribute('data-nodes-notified')) >= 1)
  assert.ok(nodes.length >= 1)
})

test('the About tab shows the browser replica size', async () => {
  await go(page, '/settings?tab=about')
  const docs = page.locator('[data-testid=replica-docs]')
  await docs.waitFor()
  // Right after login the first sync may still be under way: the count grows.
  await eventually('documents in the replica', async () => Number((await docs.innerText()).replace(/[^0-9]/g, '')) > 0, 20000)
  assert.match(await page.locator('[data-testid=replica-bytes]').innerText(), /^\d+(\.\d+)? (B|KiB|MiB)$/)
})
