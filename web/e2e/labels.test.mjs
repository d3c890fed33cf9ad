// Labels: "Apply labels to folder" pre-fills the rule editor, whose live
// preview counts the files it covers; the saved rule labels those files
// (inherited, with the rule's name), and its switch toggles it at once.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { SAMPLE_DIR, apiRequest, apiToken, eventually, go, launch, login, newPage, shot } from './harness.mjs'

let browser, page, token
const ruleName = `e2e documents ${Date.now()}`
before(async () => {
  browser = await launch()
  page = await newPage(browser)
  await login(page)
  token = await apiToken()
})
after(async () => {
  const rules = (await apiRequest('GET', '/api/labels/rules', { token })).json
  for (const r of rules?.items ?? []) {
    if (r.name === ruleName) await apiRequest('DELETE', `/api/labels/rules/${encodeURIComponent(r._id)}`, { token })
  }
  await browser?.close()
})

test('apply labels to a folder, preview, save, inherit, toggle', async () => {
  await go(page, '/files/sample/documents')
  await page.locator('[data-testid=file-row][data-name="inventory.csv"]').waitFor()
  await page.locator('[data-testid=apply-labels-folder]').click()
  await page.waitForURL((u) => u.pathname === '/labels' && u.searchParams.get('new') === '1')
  const editor = page.locator('[data-testid=rule-editor]')
  await editor.waitFor()
  const prefix = join(SAMPLE_DIR, 'documents') + '/'
  assert.equal(await page.locator('[data-testid=rule-prefix]').inputValue(), prefix)

  const onDisk = execFileSync('find', [join(SAMPLE_DIR, 'documents'), '-type', 'f']).toString().split('\n').filter(Boolean).length
  const preview = page.locator('[data-testid=rule-preview-count][data-state=current]')
  await preview.waitFor({ timeout: 20000 })
  assert.equal(Number(await preview.getAttribute('data-count')), onDisk)

  await page.locator('[data-testid=rule-name]').fill(ruleName)
  await page.locator('#rule-labels').fill('e2e-docs')
  await page.locator('#rule-labels').press('Enter')
  await shot(page, 'rule-editor')
  await page.locator('[data-testid=rule-save]').click()
  await editor.waitFor({ state: 'detached', timeout: 15000 })
  const row = page.locator(`[data-testid=rule-row][data-rule-name="${ruleName}"]`)
  await row.waitFor({ timeout: 20000 })

  // The rule's files carry the label, inherited, naming the rule.
  await go(page, '/files/sample/documents')
  await page.locator('[data-testid=file-row][data-name="inventory.csv"]').dblclick()
  const chip = page.locator('[data-testid=file-drawer] [data-label="e2e-docs"]')
  await chip.waitFor({ timeout: 20000 })
  assert.equal(await chip.getAttribute('data-inherited'), 'true')
  assert.match(await chip.getAttribute('title'), new RegExp(ruleName))
  await page.keyboard.press('Escape')

  // The switch answers at once and the server agrees.
  await go(page, '/labels?tab=rules')
  const toggle = row.locator('[data-testid=rule-enabled]')
  await toggle.waitFor()
  assert.equal(await toggle.getAttribute('aria-checked'), 'true')
  await toggle.click()
  assert.equal(await toggle.getAttribute('aria-checked'), 'false')
  const id = await row.getAttribute('data-rule-id')
  await eventually('the server to record the disabled rule', async () => {
    const r = await apiRequest('GET', `/api/labels/rules/${encodeURIComponent(id)}`, { token })
    return r.json?.enabled === false
  })
})

test('a rule with a bad path prefix is refused next to the field and not saved', async () => {
  await go(page, '/labels?tab=rules')
  await page.locator('[data-testid=rule-new]').click()
  await page.locator('[data-testid=rule-editor]').waitFor()
  await page.locator('[data-testid=rule-name]').fill(ruleName + ' bad')
  await page.locator('[data-testid=rule-prefix]').fill('relative/path')
  await page.locator('#rule-labels').fill('x')
  await page.locator('#rule-labels').press('Enter')
  await page.locator('[data-testid=rule-save]').click()
  await eventually('a field error on the prefix', async () => (await page.locator('[data-testid=rule-prefix]').getAttribute('aria-invalid')) === 'true')
  const rules = (await apiRequest('GET', '/api/labels/rules', { token })).json.items
  assert.ok(!rules.some((r) => r.name === ruleName + ' bad'))
  await page.keyboard.press('Escape')
})
