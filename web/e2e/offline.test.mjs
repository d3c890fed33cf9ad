// The server goes away and comes back: the UI says so and recovers by itself,
// the replica resuming from its checkpoint.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { DEMO_DIR, apiRequest, apiToken, eventually, launch, login, newPage } from './harness.mjs'

const REPO = join(import.meta.dirname, '..', '..')
let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

test('offline, retrying: the banner appears when the server stops and goes when it returns; a change made meanwhile arrives', async () => {
  const page = await newPage(browser)
  await login(page)
  await page.locator('[data-testid=sync-state][data-state=live]').waitFor({ timeout: 30000 })

  const pid = Number(readFileSync(join(DEMO_DIR, 'server.pid'), 'utf8'))
  process.kill(pid, 'SIGTERM')
  await page.locator('[data-testid=offline-banner]').waitFor({ timeout: 60000 })
  assert.match(await page.locator('[data-testid=offline-banner]').innerText(), /Offline, retrying/)

  execFileSync(join(REPO, 'scripts', 'demo.sh'), ['restart-server'], { stdio: 'inherit', env: process.env })
  // A change made after the restart reaches the page through the resumed replication.
  const token = await apiToken()
  const name = `offline-rule-${Date.now()}`
  const nodes = (await apiRequest('GET', '/api/nodes', { token })).json
  const nodeId = (nodes.items ?? nodes)[0].node_id
  const created = await apiRequest('POST', '/api/labels/rules', {
    token,
    body: { node_id: nodeId, path_prefix: '/tmp/', labels: ['offline-test'], name },
  })
  assert.equal(created.status, 201, created.body.toString())
  await page.locator('[data-testid=offline-banner]').waitFor({ state: 'detached', timeout: 90000 })
  await page.locator('[data-testid=sync-state][data-state=live]').waitFor({ timeout: 60000 })
  await page.evaluate((p) => {
    window.history.pushState({}, '', p)
    window.dispatchEvent(new PopStateEvent('popstate'))
  }, '/labels?tab=rules')
  await eventually('the rule made while offline to show', () => page.getByText(name).count(), 30000)
  await apiRequest('DELETE', `/api/labels/rules/${encodeURIComponent(created.json._id ?? created.json.id)}`, { token })
})
