// The browser's read-only window on mosaicfs_browser (replication flow 3).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { couch, eventually, launch, login, newPage } from './harness.mjs'

let browser, page, token
before(async () => {
  browser = await launch()
  page = await newPage(browser)
  token = await login(page)
})
after(async () => {
  await browser?.close()
})

/** fetch() from inside the page, with the page's own token. */
function pageFetch(method, path, body) {
  return page.evaluate(
    async ({ method, path, body, token }) => {
      const r = await fetch(path, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      return { status: r.status, text: await r.text() }
    },
    { method, path, body, token },
  )
}

test('the replica holds the small document types and never files or credentials', async () => {
  const docs = await eventually('node documents in the browser database', async () => {
    const r = await pageFetch('GET', '/api/browser-db/_all_docs')
    if (r.status !== 200) return null
    const ids = JSON.parse(r.text).rows.map((row) => row.id)
    return ids.some((id) => id.startsWith('node::')) ? ids : null
  })
  assert.ok(docs.some((id) => id.startsWith('dir::')), 'virtual directories are replicated')
  assert.ok(!docs.some((id) => id.startsWith('file::')), 'file documents stay out of the replica')
  assert.ok(!docs.some((id) => id.startsWith('credential::')), 'credentials never reach the browser')
  assert.ok(!docs.some((id) => id.startsWith('_design/')))
})

test('every write through the proxy is refused with 403 and the database is unchanged', async () => {
  const before = await couch('GET', '/mosaicfs_browser')
  assert.equal(before.status, 200)
  const attempts = [
    ['PUT', '/api/browser-db/evil', { x: 1 }],
    ['POST', '/api/browser-db', { _id: 'evil2' }],
    ['POST', '/api/browser-db/_bulk_docs', { docs: [{ _id: 'evil3' }] }],
    ['PUT', '/api/browser-db/_local/evil', { x: 1 }],
    ['DELETE', '/api/browser-db', undefined],
    ['PUT', '/api/browser-db/_design/evil', { views: {} }],
  ]
  for (const [method, path, body] of attempts) {
    const r = await pageFetch(method, path, body)
    assert.equal(r.status, 403, `${method} ${path} answered ${r.status}: ${r.text}`)
  }
  const after = await couch('GET', '/mosaicfs_browser')
  assert.equal(after.json.doc_count, before.json.doc_count)
  for (const id of ['evil', 'evil2', 'evil3']) {
    assert.equal((await couch('GET', `/mosaicfs_browser/${id}`)).status, 404)
  }
})

test('without a token the proxy answers 401', async () => {
  const r = await page.evaluate(async () => (await fetch('/api/browser-db/_changes')).status)
  assert.equal(r, 401)
})
