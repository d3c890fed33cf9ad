// The Phase 5 milestone, end to end in the browser: create a virtual directory,
// compose its mount in the step editor while the live preview counts, save it,
// see it in the tree, open it in the file browser and download a file from the
// agent's node.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { SAMPLE_DIR, apiRequest, apiToken, eventually, go, launch, login, newPage, sha256, shot } from './harness.mjs'

let browser, page, token, nodeId
const dirName = `e2e-milestone-${Date.now()}`
const dirPath = `/${dirName}`

/** Files below SAMPLE_DIR whose name matches `find -name PATTERN`. */
function countOnDisk(pattern) {
  return execFileSync('find', [SAMPLE_DIR, '-type', 'f', '-name', pattern]).toString().split('\n').filter(Boolean).length
}

before(async () => {
  browser = await launch()
  page = await newPage(browser)
  await login(page)
  token = await apiToken()
  nodeId = (await apiRequest('GET', '/api/nodes', { token })).json.items[0].node_id
})
after(async () => {
  await apiRequest('DELETE', `/api/vfs/directories/${encodeURIComponent(dirName)}?recursive=true`, { token }).catch(() => {})
  await browser?.close()
})

const count = async () => {
  const el = page.locator('[data-testid=preview-count][data-state=current]')
  await el.waitFor({ timeout: 15000 })
  return Number(await el.getAttribute('data-count'))
}

test('milestone: a directory composed in the mount editor, previewed live, saved, browsed and downloaded from', async () => {
  await go(page, '/vfs')
  await page.locator('[data-testid=vfs-tree]').waitFor()
  await page.locator('[data-testid=vfs-new-dir]').click()
  await page.locator('[data-testid=new-dir-name]').fill(dirName)
  await page.locator('[data-testid=new-dir-create]').click()
  await page.locator(`[data-testid=vfs-dir][data-path="${dirPath}"]`).waitFor()

  await go(page, `/vfs${dirPath}`)
  await page.locator('[data-testid=vfs-edit-mounts]').click()
  const editor = page.locator('[data-testid=mount-editor]')
  await editor.waitFor()
  await page.locator('[data-testid=add-mount]').click()
  await page.locator('#vfs-mounts-0-source-node_id').selectOption(nodeId)
  await page.locator('#vfs-mounts-0-source-export_path').fill(SAMPLE_DIR)
  await page.locator('#vfs-mounts-0-strategy').selectOption('flatten')

  const all = countOnDisk('*')
  await eventually(`the preview to count all ${all} files`, async () => (await count()) === all, 20000)

  // A step: only Markdown files. The count changes as the draft changes.
  await page.locator('[data-testid=add-step]').click()
  await page.locator('#vfs-mounts-0-steps-0-op').selectOption('glob')
  await page.locator('#vfs-mounts-0-steps-0-pattern').fill('*.md')
  // The default "continue" keeps a match and drops the rest ("include, stop"
  // would keep everything: a non-match falls through to the mount's default).
  assert.equal(await page.locator('#vfs-mounts-0-steps-0-on_match').inputValue(), '')
  const md = countOnDisk('*.md')
  assert.ok(md > 0 && md < all)
  await eventually(`the preview to count ${md} Markdown files`, async () => (await count()) === md, 20000)
  await shot(page, 'mount-editor-preview')

  // An invalid glob: the API's error sits next to the field, and nothing is saved.
  await page.locator('#vfs-mounts-0-steps-0-pattern').fill('[*.md')
  const err = page.locator('[data-testid=field-error][data-field="mounts[0].steps[0].pattern"]')
  await err.waitFor({ timeout: 15000 })
  assert.equal(await page.locator('#vfs-mounts-0-steps-0-pattern').getAttribute('aria-invalid'), 'true')
  await shot(page, 'mount-editor-invalid')
  assert.equal(await page.locator('[data-testid=mount-save]').isDisabled(), true)
  const stored = await apiRequest('GET', `/api/vfs/directories/${encodeURIComponent(dirName)}`, { token })
  assert.equal(stored.json.mounts.length, 0, 'nothing saved while invalid')

  await page.locator('#vfs-mounts-0-steps-0-pattern').fill('*.md')
  await eventually('the preview to recover', async () => (await count()) === md, 20000)
  await page.locator('[data-testid=mount-save]').click()
  await editor.waitFor({ state: 'detached', timeout: 15000 })
  const listing = await eventually('the saved directory to list the Markdown files', async () => {
    const r = await apiRequest('GET', `/api/vfs?path=${encodeURIComponent(dirPath)}`, { token })
    return r.json?.total === md ? r.json : null
  })
  assert.ok(listing.entries.every((e) => e.name.endsWith('.md')))

  // The file browser shows it; a file downloads with the agent's exact bytes.
  await go(page, `/files${dirPath}`)
  await eventually('the rows', async () => (await page.locator('[data-testid=file-row]').count()) === md, 20000)
  await page.locator('[data-testid=file-row][data-name="README.md"]').dblclick()
  await page.locator('[data-testid=file-drawer]').waitFor()
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=file-download]').click()])
  const got = readFileSync(await download.path())
  assert.equal(sha256(got), sha256(readFileSync(join(SAMPLE_DIR, 'README.md'))))
  await page.keyboard.press('Escape')
})

test("a child's mount editor shows the steps its ancestor enforces, read-only", async () => {
  const parent = `e2e-enforce-${Date.now()}`
  const created = await apiRequest('POST', '/api/vfs/directories', {
    token,
    body: {
      virtual_path: `/${parent}`,
      enforce_steps_on_children: true,
      mounts: [{ source: { node_id: nodeId, export_path: SAMPLE_DIR }, strategy: 'prefix_replace', steps: [{ op: 'glob', pattern: '*.txt', invert: true }] }],
    },
  })
  assert.equal(created.status, 201, JSON.stringify(created.json))
  try {
    const child = await apiRequest('POST', '/api/vfs/directories', { token, body: { virtual_path: `/${parent}/child` } })
    assert.equal(child.status, 201, JSON.stringify(child.json))
    await go(page, `/vfs/${parent}/child`)
    await page.locator('[data-testid=vfs-edit-mounts]').click()
    const section = page.locator('[data-testid=inherited-steps]')
    await section.waitFor()
    const step = section.locator('[data-testid=inherited-step]')
    await eventually('the inherited step', async () => (await step.count()) === 1, 15000)
    assert.match(await step.innerText(), /\*\.txt/)
    assert.equal(await section.locator('input, select, textarea, [role=switch]').count(), 0, 'nothing in it is editable')
    await shot(page, 'mount-editor-inherited')
    await page.keyboard.press('Escape')
  } finally {
    await apiRequest('DELETE', `/api/vfs/directories/${encodeURIComponent(parent)}?recursive=true`, { token })
  }
})
