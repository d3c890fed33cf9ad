// A second machine added with `mosaicfs-agent init` alone (scripts/demo.sh
// add-node: its own CouchDB, credential, agent and transfer port): its file is
// read through the first node's FUSE mount, it shows on the dashboard, and the
// browser downloads its file with the exact bytes.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, test } from 'node:test'
import { DEMO_DIR, apiRequest, apiToken, eventually, go, launch, login, newPage, sha256, shot } from './harness.mjs'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
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

test('a second machine set up by init alone serves its file to the first node and to the browser', async () => {
  const transcript = execFileSync(join(repo, 'scripts', 'demo.sh'), ['add-node'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  console.log(transcript)
  const local = readFileSync(join(DEMO_DIR, 'node2', 'files', 'hello-from-node2.txt'))
  // The transcript ends with both sha256 sums equal (checked by add-node too).
  assert.equal((transcript.match(new RegExp(sha256(local), 'g')) ?? []).length, 2, transcript)
  const nodeId = readFileSync(join(DEMO_DIR, 'node2', 'state', 'node_id'), 'utf8').trim()

  await go(page, '/')
  const card = page.locator(`[data-testid=node-card][data-node-id="${nodeId}"]`)
  await card.waitFor({ timeout: 60000 })
  assert.match(await card.innerText(), /second machine/)
  await eventually('the second machine online', async () => (await card.getAttribute('data-status')) === 'online', 60000)
  await shot(page, 'dashboard-two-nodes')

  await go(page, '/files/second-machine')
  const row = page.locator('[data-testid=file-row][data-name="hello-from-node2.txt"]')
  await row.waitFor({ timeout: 30000 })
  await row.dblclick()
  await page.locator('[data-testid=file-drawer]').waitFor()
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=file-download]').click()])
  assert.equal(sha256(readFileSync(await download.path())), sha256(local))
  await page.keyboard.press('Escape')
  // The API names the second machine as the file's node.
  const found = await apiRequest('GET', '/api/search?q=hello-from-node2.txt', { token })
  assert.equal(found.json.items[0].node_id, nodeId)
})
