// Login, the route guard, and what an expired session looks like.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { ACCESS_KEY, BASE, SECRET, apiRequest, axe, go, launch, login, newPage, shot } from './harness.mjs'

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

test('every route is guarded: a deep link without a session lands on the login page and returns after login', async () => {
  const page = await newPage(browser)
  await page.goto(`${BASE}/storage`)
  await page.waitForURL((u) => u.pathname === '/login')
  assert.equal(new URL(page.url()).searchParams.get('next'), '/storage')
  await shot(page, 'login')
  const serious = await axe(page, 'login')
  assert.deepEqual(serious, [], `axe: ${JSON.stringify(serious)}`)
  await page.fill('#access_key_id', ACCESS_KEY)
  await page.fill('#secret_key', SECRET)
  await page.click('button[type=submit]')
  await page.waitForURL((u) => u.pathname === '/storage')
  await page.context().close()
})

test('a wrong secret is refused in words, and nothing is stored in the browser', async () => {
  const page = await newPage(browser)
  await page.goto(`${BASE}/login`)
  await page.fill('#access_key_id', ACCESS_KEY)
  await page.fill('#secret_key', 'not-the-secret')
  await page.click('button[type=submit]')
  await page.getByRole('alert').filter({ hasText: 'wrong secret' }).waitFor()
  assert.equal(new URL(page.url()).pathname, '/login')
  const badKey = page.locator('#access_key_id')
  await badKey.fill('not-a-key')
  await page.click('button[type=submit]')
  await page.locator('#access_key_id-error').waitFor()
  assert.match(await page.locator('#access_key_id-error').innerText(), /MOSAICFS_/)
  await page.context().close()
})

test('the JWT is kept in memory only, and an expired or revoked session sends the user to login with a message', async () => {
  const page = await newPage(browser)
  const token = await login(page)
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie)
  assert.ok(!stored.includes(token), 'the token must not be in localStorage, sessionStorage or a cookie')
  // Revoke the page's token on the server, then make the page call the API.
  const r = await apiRequest('POST', '/api/auth/logout', { token })
  assert.equal(r.status, 204)
  await go(page, '/nodes')
  await go(page, '/files')
  await page.waitForURL((u) => u.pathname === '/login', { timeout: 20000 })
  await page.getByText('Your session has expired').waitFor()
  await page.context().close()
})
