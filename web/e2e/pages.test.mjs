// Every page: rendered against the demo's data, screenshotted (light and dark),
// and checked with axe-core: no serious or critical violation is allowed.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { apiRequest, apiToken, axe, go, launch, login, newPage, shot } from './harness.mjs'

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

async function settle(page) {
  // Pages show skeletons (role=status, "Loading…") while slow work runs.
  await page.waitForFunction(() => !document.querySelector('#main [role=status][aria-label^="Loading"]'), null, { timeout: 20000 })
  await page.waitForTimeout(400)
}

async function pages() {
  const token = await apiToken()
  const nodes = (await apiRequest('GET', '/api/nodes', { token })).json.items
  const nodeId = nodes[0].node_id
  return [
    ['dashboard', '/'],
    ['files', '/files/sample'],
    ['files-documents', '/files/sample/documents'],
    ['search', '/search?q=report'],
    ['labels-assignments', '/labels?tab=assignments'],
    ['labels-rules', '/labels?tab=rules'],
    ['vfs', '/vfs/sample'],
    ['nodes', '/nodes'],
    ['node-detail', `/nodes/${encodeURIComponent(nodeId)}`],
    ['storage', '/storage'],
    ['settings-credentials', '/settings?tab=credentials'],
    ['settings-plugins', '/settings?tab=plugins'],
    ['settings-bridges', '/settings?tab=bridges'],
    ['settings-general', '/settings?tab=general'],
    ['settings-about', '/settings?tab=about'],
    ['not-found', '/no/such/page'],
  ]
}

for (const scheme of ['light', 'dark']) {
  test(`every page renders with no serious or critical axe violation (${scheme})`, async () => {
    const page = await newPage(browser, { colorScheme: scheme })
    await login(page)
    const failures = []
    for (const [name, path] of await pages()) {
      await go(page, path)
      await settle(page)
      await shot(page, `${name}-${scheme}`)
      const serious = await axe(page, `${name}-${scheme}`)
      if (serious.length) failures.push({ page: name, violations: serious })
    }
    assert.deepEqual(page.errors, [], 'uncaught errors in the page')
    assert.deepEqual(failures, [], JSON.stringify(failures, null, 2))
    await page.context().close()
  })
}

test('the navigation shell collapses to bottom tabs on a phone-sized screen', async () => {
  const page = await newPage(browser, { viewport: { width: 390, height: 800 } })
  await login(page)
  await settle(page)
  assert.equal(await page.getByRole('navigation', { name: 'Main', exact: true }).isVisible(), false)
  assert.equal(await page.getByRole('navigation', { name: 'Main (tabs)' }).isVisible(), true)
  await shot(page, 'dashboard-mobile')
  await page.context().close()
})
