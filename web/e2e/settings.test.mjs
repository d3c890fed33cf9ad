// Settings: a new credential's secret is shown once and works; the replica's
// size is shown.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { apiRequest, apiToken, go, launch, login, newPage, shot } from './harness.mjs'

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

test('the About tab shows the browser replica size', async () => {
  await go(page, '/settings?tab=about')
  const docs = page.locator('[data-testid=replica-docs]')
  await docs.waitFor()
  assert.ok(Number((await docs.innerText()).replace(/[^0-9]/g, '')) > 0)
})
