// Development helper: logs in and screenshots one page.
//   node e2e/shot.mjs BASE_URL PATH OUT.png [ACCESS_KEY SECRET]
// e.g. node e2e/shot.mjs http://127.0.0.1:5173 /files /tmp/files.png
import { chromium } from 'playwright-core'

const [base, path = '/', out = '/tmp/shot.png', key = 'MOSAICFS_0123456789ABCDEF', secret = 'demo-secret-key-0123456789'] =
  process.argv.slice(2)
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})
const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1360, height: 860 } })
const page = await context.newPage()
page.on('console', (m) => {
  if (m.type() === 'error') console.error('console:', m.text())
})
page.on('pageerror', (e) => console.error('pageerror:', e.message))
await page.goto(base + '/login')
await page.fill('#access_key_id', key)
await page.fill('#secret_key', secret)
await page.click('button[type=submit]')
await page.waitForURL((u) => !u.pathname.startsWith('/login'))
if (path !== '/') await page.evaluate((p) => window.history.pushState({}, '', p), path)
await page.evaluate(() => window.dispatchEvent(new PopStateEvent('popstate')))
await page.waitForTimeout(2500)
await page.screenshot({ path: out, fullPage: false })
console.log('wrote', out)
await browser.close()
