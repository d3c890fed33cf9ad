// Nodes: the dashboard's health strip moves with the agent's heartbeats
// without a reload, and a node's network mounts are added, edited and deleted
// in its detail page (stored through the API), with a bad path refused next to
// its field.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { ACCESS_KEY, apiRequest, apiToken, eventually, go, launch, login, newPage, shot } from './harness.mjs'

let browser, page, token, agentId
const nasId = `node-e2e${Date.now().toString(16).padStart(12, '0').slice(-12)}`.slice(0, 21)

before(async () => {
  browser = await launch()
  page = await newPage(browser)
  await login(page)
  token = await apiToken()
  agentId = (await apiRequest('GET', '/api/nodes', { token })).json.items.find((n) => n.last_heartbeat)?.node_id
  assert.ok(agentId, 'the demo agent has registered and sent a heartbeat')
})
after(async () => {
  await apiRequest('DELETE', `/api/nodes/${nasId}`, { token }).catch(() => {})
  await browser?.close()
})

test('the dashboard health strip shows a newer heartbeat without a reload', async () => {
  await go(page, '/')
  const age = page.locator(`[data-testid=node-card][data-node-id="${agentId}"] [data-testid=heartbeat-age]`)
  await age.waitFor()
  const first = await age.getAttribute('title')
  assert.ok(first, 'the card carries the heartbeat time')
  // The agent heartbeats every 30 s; the document reaches the page over PouchDB.
  const next = await eventually('a newer heartbeat on the card', async () => {
    const t = await age.getAttribute('title')
    return t && t !== first && Date.parse(t) > Date.parse(first) ? t : null
  }, 80000, 500)
  console.log(`health strip: heartbeat ${first} → ${next}`)
})

test('network mounts: add, edit and delete in the node page; a relative path is refused at its field', async () => {
  const reg = await apiRequest('POST', '/api/nodes', {
    token,
    body: { node_id: nasId, friendly_name: 'e2e NAS', platform: 'linux', access_key_id: ACCESS_KEY, watch_paths: ['/srv/share'] },
  })
  assert.equal(reg.status, 201, JSON.stringify(reg.json))
  await go(page, `/nodes/${agentId}`)
  const card = page.locator('[data-testid=network-mounts]')
  await card.waitFor()
  await card.locator('[data-testid=mount-add]').click()
  // The new node arrives over the replica; it is offered as the remote node.
  await eventually('the NAS in the remote node list', async () => (await page.locator(`#mount-remote_node_id option[value="${nasId}"]`).count()) === 1, 30000)
  await page.locator('#mount-remote_node_id').selectOption(nasId)
  await page.locator('#mount-mount_type').selectOption('nfs')
  await page.locator('#mount-remote_base_export_path').fill('/srv/share')
  await page.locator('#mount-local_mount_path').fill('mnt/nas')
  await page.locator('#mount-priority').fill('5')
  await card.locator('[data-testid=mount-save]').click()
  await eventually('the path error', async () => (await page.locator('#mount-local_mount_path').getAttribute('aria-invalid')) === 'true', 5000)
  assert.match(await page.locator('#mount-local_mount_path-error').innerText(), /absolute|\//i)
  assert.equal((await apiRequest('GET', `/api/nodes/${agentId}/mounts`, { token })).json.items.length, 0, 'nothing saved')

  await page.locator('#mount-local_mount_path').fill('/mnt/nas')
  await card.locator('[data-testid=mount-save]').click()
  const row = card.locator('[data-testid=network-mount-row]')
  await row.waitFor()
  const stored = (await apiRequest('GET', `/api/nodes/${agentId}/mounts`, { token })).json.items
  assert.equal(stored.length, 1)
  assert.deepEqual(
    { r: stored[0].remote_node_id, e: stored[0].remote_base_export_path, l: stored[0].local_mount_path, t: stored[0].mount_type, p: stored[0].priority },
    { r: nasId, e: '/srv/share', l: '/mnt/nas', t: 'nfs', p: 5 },
  )
  await shot(page, 'node-network-mounts')

  await page.getByRole('button', { name: 'Edit mount /mnt/nas' }).click()
  await page.locator('#mount-priority').fill('9')
  await card.locator('[data-testid=mount-save]').click()
  await card.locator('[data-testid=mount-form]').waitFor({ state: 'detached' })
  await eventually('the new priority on the server', async () => (await apiRequest('GET', `/api/nodes/${agentId}/mounts`, { token })).json.items[0]?.priority === 9)
  await eventually('the new priority in the table', async () => (await row.innerText()).includes('9'))

  await page.getByRole('button', { name: 'Delete mount /mnt/nas' }).click()
  await page.locator('[data-testid=mount-delete-confirm]').click()
  await row.waitFor({ state: 'detached' })
  assert.equal((await apiRequest('GET', `/api/nodes/${agentId}/mounts`, { token })).json.items.length, 0)
})
