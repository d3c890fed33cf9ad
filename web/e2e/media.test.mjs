// Inline previews in the detail drawer: an image, a PDF and a text file show
// in place, and a video of several megabytes plays in a <video> element that
// seeks with Range requests (206) through its ticket URL.
import assert from 'node:assert/strict'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { BASE, SAMPLE_DIR, apiRequest, apiToken, eventually, go, launch, login, newPage, shot } from './harness.mjs'

const MEDIA = join(SAMPLE_DIR, 'media-e2e')
let browser, page, token

before(async () => {
  browser = await launch()
  page = await newPage(browser)
  await login(page)
  token = await apiToken()
  mkdirSync(MEDIA, { recursive: true })
})
after(async () => {
  rmSync(MEDIA, { recursive: true, force: true })
  await browser?.close()
})

/** A WebM video recorded in Chromium itself (canvas → MediaRecorder): noisy frames so it is several MB. */
async function recordWebm(seconds) {
  const p = await browser.newPage()
  try {
    const b64 = await p.evaluate(async (secs) => {
      const c = document.createElement('canvas')
      c.width = 640
      c.height = 360
      const g = c.getContext('2d')
      const img = g.createImageData(c.width, c.height)
      const stream = c.captureStream(25)
      const rec = new MediaRecorder(stream, { mimeType: 'video/webm;codecs=vp8', videoBitsPerSecond: 8_000_000 })
      const chunks = []
      rec.ondataavailable = (e) => chunks.push(e.data)
      const done = new Promise((r) => (rec.onstop = r))
      rec.start(250)
      const t0 = performance.now()
      let frame = 0
      while (performance.now() - t0 < secs * 1000) {
        for (let i = 0; i < img.data.length; i += 4) {
          const v = (Math.random() * 255) | 0
          img.data[i] = v
          img.data[i + 1] = (v + frame * 7) & 255
          img.data[i + 2] = 255 - v
          img.data[i + 3] = 255
        }
        g.putImageData(img, 0, 0)
        g.fillStyle = '#fff'
        g.font = '48px sans-serif'
        g.fillText(`frame ${frame++}`, 20, 60)
        await new Promise((r) => setTimeout(r, 40))
      }
      rec.stop()
      await done
      const buf = new Uint8Array(await new Blob(chunks, { type: 'video/webm' }).arrayBuffer())
      let s = ''
      for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode(...buf.subarray(i, i + 0x8000))
      return btoa(s)
    }, seconds)
    return Buffer.from(b64, 'base64')
  } finally {
    await p.close()
  }
}

/** A one-page PDF with a line of text (offsets computed, so viewers accept it). */
function tinyPdf(text) {
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    null,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ]
  const stream = `BT /F1 18 Tf 20 70 Td (${text}) Tj ET`
  objs[3] = `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`
  let out = '%PDF-1.4\n'
  const offsets = []
  objs.forEach((o, i) => {
    offsets.push(out.length)
    out += `${i + 1} 0 obj\n${o}\nendobj\n`
  })
  const xref = out.length
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`
  for (const off of offsets) out += `${String(off).padStart(10, '0')} 00000 n \n`
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(out, 'latin1')
}

/** A 64×48 PNG made by the browser's own encoder. */
async function png() {
  const p = await browser.newPage()
  try {
    const b64 = await p.evaluate(() => {
      const c = document.createElement('canvas')
      c.width = 64
      c.height = 48
      const g = c.getContext('2d')
      g.fillStyle = '#2a7'
      g.fillRect(0, 0, 64, 48)
      g.fillStyle = '#fff'
      g.fillRect(16, 12, 32, 24)
      return c.toDataURL('image/png').split(',')[1]
    })
    return Buffer.from(b64, 'base64')
  } finally {
    await p.close()
  }
}

const row = (name) => page.locator(`[data-testid=file-row][data-name="${name}"]`)

async function openInDrawer(name) {
  await go(page, '/files/sample/media-e2e')
  await page.locator('[data-testid=file-table]').waitFor()
  await row(name).waitFor({ timeout: 60000 })
  await row(name).dblclick()
  await page.locator('[data-testid=file-drawer]').waitFor()
}

async function closeDrawer() {
  await page.keyboard.press('Escape')
  await page.locator('[data-testid=file-drawer]').waitFor({ state: 'detached' })
}

async function indexed(name) {
  await eventually(`${name} to be indexed`, async () => {
    const r = await apiRequest('GET', `/api/search?q=${encodeURIComponent(name)}`, { token })
    return r.json?.items?.some((f) => f.name === name)
  }, 60000)
}

test('the drawer previews an image, a PDF and a text file inline', async () => {
  writeFileSync(join(MEDIA, 'square.png'), await png())
  writeFileSync(join(MEDIA, 'letter.pdf'), tinyPdf('Hello from MosaicFS'))
  writeFileSync(join(MEDIA, 'notes.txt'), 'first line of the notes\nsecond line\n')
  for (const n of ['square.png', 'letter.pdf', 'notes.txt']) await indexed(n)

  await openInDrawer('square.png')
  const img = page.locator('[data-testid=file-preview][data-kind=image] img')
  await img.waitFor()
  const w = await eventually('the image to decode', async () => img.evaluate((el) => el.complete && el.naturalWidth))
  assert.equal(w, 64)
  await shot(page, 'preview-image')
  await closeDrawer()

  await openInDrawer('letter.pdf')
  const frame = page.locator('[data-testid=file-preview][data-kind=pdf] iframe')
  await frame.waitFor()
  // The iframe loads the ticket URL inline, as a PDF.
  const src = new URL(await frame.getAttribute('src'), BASE)
  const pdf = await apiRequest('GET', src.pathname + src.search)
  assert.equal(pdf.status, 200)
  assert.match(String(pdf.headers['content-type']), /application\/pdf/)
  assert.match(String(pdf.headers['content-disposition']), /^inline/)
  assert.equal(pdf.body.subarray(0, 5).toString(), '%PDF-')
  await closeDrawer()

  await openInDrawer('notes.txt')
  const text = page.locator('[data-testid=file-preview][data-kind=text]')
  await text.getByText('first line of the notes').waitFor()
  await shot(page, 'preview-text')
  await closeDrawer()
})

test('a video of several MB plays in the drawer and seeks with Range requests', async () => {
  const webm = await recordWebm(6)
  assert.ok(webm.length > 2 * 1024 * 1024, `recorded only ${webm.length} bytes`)
  writeFileSync(join(MEDIA, 'clip.webm'), webm)
  await indexed('clip.webm')

  const ranged = []
  const onResponse = (r) => {
    if (r.url().includes('/content?ticket=')) ranged.push({ status: r.status(), range: r.request().headers().range ?? null, cr: r.headers()['content-range'] ?? null })
  }
  page.on('response', onResponse)
  try {
    await openInDrawer('clip.webm')
    const video = page.locator('[data-testid=file-preview][data-kind=video] video')
    await video.waitFor()
    await eventually('the video metadata', async () => video.evaluate((v) => v.readyState >= 1), 30000)
    // A recording from MediaRecorder has no duration in its header; play a
    // little, then seek to the middle and near the end.
    const seekTo = async (t) =>
      video.evaluate(
        (v, t) =>
          new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`seek to ${t} s did not finish (readyState ${v.readyState}, error ${v.error?.message})`)), 20000)
            v.addEventListener('seeked', () => (clearTimeout(timer), resolve(v.currentTime)), { once: true })
            v.currentTime = t
          }),
        t,
      )
    await video.evaluate((v) => {
      v.muted = true
      return v.play()
    })
    await eventually('playback to start', async () => video.evaluate((v) => v.currentTime > 0.2), 20000)
    await video.evaluate((v) => v.pause())
    const mid = await seekTo(3)
    assert.ok(Math.abs(mid - 3) < 0.6, `seeked to ${mid}`)
    const late = await seekTo(5.2)
    assert.ok(Math.abs(late - 5.2) < 0.6, `seeked to ${late}`)
    await eventually('a frame at the seek position', async () => video.evaluate((v) => v.readyState >= 2), 10000)
    await shot(page, 'preview-video')
    const partial = ranged.filter((r) => r.status === 206)
    assert.ok(partial.length >= 1, `no 206 answers: ${JSON.stringify(ranged)}`)
    for (const r of partial) assert.match(String(r.cr), new RegExp(`^bytes \\d+-\\d+/${webm.length}$`))
    // The same ticket URL answers a range in the middle with exactly those bytes
    // (what a browser asks for when it seeks into a part it has not loaded).
    const src = new URL(await video.getAttribute('src'), BASE)
    const from = Math.floor(webm.length / 2)
    const mid206 = await apiRequest('GET', src.pathname + src.search, { headers: { Range: `bytes=${from}-${from + 65535}` } })
    assert.equal(mid206.status, 206)
    assert.equal(mid206.headers['content-range'], `bytes ${from}-${from + 65535}/${webm.length}`)
    assert.ok(mid206.body.equals(webm.subarray(from, from + 65536)))
    console.log(`video: ${webm.length} bytes; media requests ${JSON.stringify(ranged)}`)
    await closeDrawer()
  } finally {
    page.off('response', onResponse)
  }
})
