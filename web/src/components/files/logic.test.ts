import { describe, expect, it } from 'vitest'
import { decodeHead } from './content'
import {
  applyLabelsUrl,
  breadcrumbs,
  commonDirPrefix,
  deriveRuleTarget,
  dirUrl,
  exactBytesText,
  filesUrl,
  filterEntries,
  nameKey,
  nextSort,
  parentPath,
  previewKind,
  searchPath,
  toggleLabel,
  sampleEvenly,
  sortEntries,
  splatToPath,
  targetsFromMounts,
} from './logic'
import type { VfsEntry } from './types'

const f = (name: string, extra: Partial<VfsEntry> = {}): VfsEntry => ({ name, kind: 'file', inode: 0, size: 0, ...extra })
const d = (name: string): VfsEntry => ({ name, kind: 'directory', inode: 0, virtual_path: `/x/${name}` })
const names = (es: VfsEntry[]) => es.map((e) => e.name)

describe('sortEntries', () => {
  const list = [f('b.txt', { size: 5, mtime: '2026-01-02T00:00:00Z', node_id: 'n2' }), d('Zeta'), f('A.txt', { size: 50, mtime: '2026-01-01T00:00:00Z', node_id: 'n1' }), d('alpha'), f('file10'), f('file2')]

  it('puts directories first and sorts names case-insensitively and naturally', () => {
    expect(names(sortEntries(list, { key: 'name', dir: 'asc' }))).toEqual(['alpha', 'Zeta', 'A.txt', 'b.txt', 'file2', 'file10'])
  })
  it('keeps directories first when descending', () => {
    expect(names(sortEntries(list, { key: 'name', dir: 'desc' }))).toEqual(['Zeta', 'alpha', 'file10', 'file2', 'b.txt', 'A.txt'])
  })
  it('sorts by size, mtime and node, ties by name', () => {
    expect(names(sortEntries(list, { key: 'size', dir: 'desc' })).slice(2)).toEqual(['A.txt', 'b.txt', 'file2', 'file10'])
    expect(names(sortEntries(list, { key: 'mtime', dir: 'asc' })).slice(2)).toEqual(['file2', 'file10', 'A.txt', 'b.txt'])
    const byNode = sortEntries(list, { key: 'node', dir: 'asc' }, (id) => (id === 'n1' ? 'zebra' : id === 'n2' ? 'apple' : ''))
    expect(names(byNode).slice(2)).toEqual(['file2', 'file10', 'b.txt', 'A.txt'])
  })
  it('does not change its input', () => {
    const copy = [...list]
    sortEntries(list, { key: 'size', dir: 'asc' })
    expect(list).toEqual(copy)
  })
  it('sorts 20,000 entries correctly and 500,000 quickly', () => {
    const big: VfsEntry[] = []
    for (let i = 0; i < 20000; i++) big.push(i % 100 === 0 ? d(`dir ${i}`) : f(`photo_${(i * 7919) % 20000}.jpg`, { size: (i * 31) % 1000 }))
    const s = sortEntries(big, { key: 'name', dir: 'asc' })
    expect(s).toHaveLength(20000)
    expect(s.slice(0, 200).every((e) => e.kind === 'directory')).toBe(true)
    for (let i = 201; i < s.length; i++) expect(nameKey(s[i - 1].name) <= nameKey(s[i].name)).toBe(true)
    const bySize = sortEntries(big, { key: 'size', dir: 'desc' })
    for (let i = 201; i < bySize.length; i++) expect(bySize[i - 1].size! >= bySize[i].size!).toBe(true)

    const huge: VfsEntry[] = []
    for (let i = 0; i < 500000; i++) huge.push(f(`IMG_${(i * 104729) % 500000}.JPG`, { size: i }))
    const t = performance.now()
    const h = sortEntries(huge, { key: 'name', dir: 'asc' })
    expect(performance.now() - t).toBeLessThan(5000)
    expect(h[0].name).toBe('IMG_0.JPG')
    expect(h[1].name).toBe('IMG_1.JPG')
    expect(h[10].name).toBe('IMG_10.JPG')
  })
})

describe('filterEntries', () => {
  it('matches a substring case-insensitively and keeps all on blank', () => {
    const l = [f('Report.PDF'), f('notes.txt'), d('reports')]
    expect(names(filterEntries(l, 'report'))).toEqual(['Report.PDF', 'reports'])
    expect(filterEntries(l, '  ')).toHaveLength(3)
    expect(filterEntries(l, 'zzz')).toEqual([])
  })
  it('filters 20,000 entries', () => {
    const big = Array.from({ length: 20000 }, (_, i) => f(`file-${i}.txt`))
    expect(filterEntries(big, '-1999')).toHaveLength(11) // 1999 and 19990…19999
  })
})

describe('nextSort', () => {
  it('flips the same column and starts a new one ascending', () => {
    expect(nextSort({ key: 'name', dir: 'asc' }, 'name')).toEqual({ key: 'name', dir: 'desc' })
    expect(nextSort({ key: 'name', dir: 'desc' }, 'size')).toEqual({ key: 'size', dir: 'asc' })
  })
})

describe('paths', () => {
  it('maps the route splat to a virtual path and back', () => {
    expect(splatToPath(undefined)).toBe('/')
    expect(splatToPath('sample/documents/')).toBe('/sample/documents')
    expect(filesUrl('/')).toBe('/files')
    expect(filesUrl('/sample/client work')).toBe('/files/sample/client%20work')
  })
  it('builds breadcrumbs and parents', () => {
    expect(breadcrumbs('/a/b')).toEqual([
      { name: 'All files', path: '/' },
      { name: 'a', path: '/a' },
      { name: 'b', path: '/a/b' },
    ])
    expect(breadcrumbs('/')).toHaveLength(1)
    expect(parentPath('/a/b')).toBe('/a')
    expect(parentPath('/a')).toBe('/')
    expect(parentPath('/')).toBe('/')
  })
})

describe('commonDirPrefix and deriveRuleTarget', () => {
  it('works on whole segments', () => {
    expect(commonDirPrefix(['/data/x/', '/database/y/'])).toBe('/')
    expect(commonDirPrefix(['/home/me/docs/a/', '/home/me/docs/b/'])).toBe('/home/me/docs/')
    expect(commonDirPrefix(['/home/me/docs/'])).toBe('/home/me/docs/')
    expect(commonDirPrefix([])).toBe('/')
  })
  it('one node: its common directory', () => {
    expect(
      deriveRuleTarget([
        { node_id: 'n1', export_path: '/home/me/Photos/2025/a.jpg' },
        { node_id: 'n1', export_path: '/home/me/Photos/2026/b.jpg' },
      ]),
    ).toEqual({ node_id: 'n1', path_prefix: '/home/me/Photos/' })
  })
  it('several nodes with the same prefix: every node', () => {
    expect(
      deriveRuleTarget([
        { node_id: 'n1', export_path: '/srv/music/a.mp3' },
        { node_id: 'n2', export_path: '/srv/music/b.mp3' },
      ]),
    ).toEqual({ node_id: '*', path_prefix: '/srv/music/' })
  })
  it('several nodes in different places: the first node, with a note', () => {
    const t = deriveRuleTarget([
      { node_id: 'n1', export_path: '/home/a/x.txt' },
      { node_id: 'n2', export_path: '/Users/b/x.txt' },
    ])!
    expect(t.node_id).toBe('n1')
    expect(t.path_prefix).toBe('/home/a/')
    expect(t.note).toMatch(/n2/)
    expect(deriveRuleTarget([])).toBeNull()
  })
  it('falls back to the mounts of a folder without files', () => {
    const mounts = [{ source: { node_id: 'n1', export_path: '/data/sample' }, strategy: 'prefix_replace' as const, steps: [] }]
    expect(deriveRuleTarget(targetsFromMounts(mounts, '/sample', '/sample/documents'))).toEqual({ node_id: 'n1', path_prefix: '/data/sample/documents/' })
    expect(deriveRuleTarget(targetsFromMounts(mounts, '/sample', '/sample'))).toEqual({ node_id: 'n1', path_prefix: '/data/sample/' })
    const flat = [{ source: { node_id: 'n1', export_path: '/data/pics/' }, strategy: 'flatten' as const, steps: [] }]
    expect(deriveRuleTarget(targetsFromMounts(flat, '/pics', '/pics'))).toEqual({ node_id: 'n1', path_prefix: '/data/pics/' })
  })
  it('samples evenly and builds the Labels URL', () => {
    expect(sampleEvenly([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 4)).toEqual([1, 4, 7, 10])
    expect(sampleEvenly([1, 2], 4)).toEqual([1, 2])
    expect(applyLabelsUrl({ node_id: 'n1', path_prefix: '/a b/' })).toBe('/labels?tab=rules&new=1&node_id=n1&path_prefix=%2Fa+b%2F')
  })
})

describe('previewKind', () => {
  it('picks by MIME type', () => {
    expect(previewKind('image/jpeg', 'x')).toBe('image')
    expect(previewKind('image/heic', 'x.heic')).toBe('none')
    expect(previewKind('application/pdf', 'x')).toBe('pdf')
    expect(previewKind('text/markdown', 'x')).toBe('text')
    expect(previewKind('application/json; charset=utf-8', 'x')).toBe('text')
    expect(previewKind('video/mp4', 'x')).toBe('video')
    expect(previewKind('audio/mpeg', 'x')).toBe('audio')
    expect(previewKind('application/zip', 'x.zip')).toBe('none')
  })
  it('falls back to the extension', () => {
    expect(previewKind(null, 'Photo.PNG')).toBe('image')
    expect(previewKind('application/octet-stream', 'main.rs')).toBe('text')
    expect(previewKind(undefined, 'song.flac')).toBe('audio')
    expect(previewKind(undefined, 'clip.webm')).toBe('video')
    expect(previewKind(undefined, 'Makefile')).toBe('text')
    expect(previewKind(undefined, 'blob.bin')).toBe('none')
  })
})

describe('decodeHead', () => {
  it('marks truncation and drops a half character at the cut', () => {
    const bytes = new TextEncoder().encode('aé') // 61 c3 a9
    expect(decodeHead(bytes.subarray(0, 2), 3, 2)).toEqual({ text: 'a', truncated: true })
    expect(decodeHead(bytes, 3)).toEqual({ text: 'aé', truncated: false })
  })
})

describe('search', () => {
  it('repeats label and skips a blank query', () => {
    expect(searchPath(' tax ', ['a', 'b c'], 'CUR', 50)).toBe('/api/search?q=tax&label=a&label=b+c&limit=50&cursor=CUR')
    expect(searchPath('', ['a'])).toBe('/api/search?label=a&limit=100')
  })
  it('toggles labels', () => {
    expect(toggleLabel(['a', 'b'], 'a')).toEqual(['b'])
    expect(toggleLabel(['b'], 'a')).toEqual(['b', 'a'])
  })
})

describe('exact name bytes (issue #24)', () => {
  it('shows the bytes of a non-UTF-8 name so two such names differ', () => {
    // base64 of "\xfa.dat" and "\xfb.dat": both display as "\uFFFD.dat".
    expect(exactBytesText('+i5kYXQ=')).toBe('\\xfa.dat')
    expect(exactBytesText('+y5kYXQ=')).toBe('\\xfb.dat')
    expect(exactBytesText(undefined)).toBeNull()
    expect(exactBytesText('not base64!')).toBeNull()
  })

  it('navigates into a non-UTF-8 directory with its exact bytes', () => {
    expect(dirUrl('/t/\uFFFD', 'L3Qv+g==')).toBe('/files/t/%EF%BF%BD?bytes=L3Qv%2Bg%3D%3D')
    expect(dirUrl('/t/plain')).toBe('/files/t/plain')
  })
})
