import { describe, expect, it } from 'vitest'
import type { Step, VirtualDirectoryDoc } from '@/lib/docs'
import {
  buildTree,
  checkDirName,
  descendantCount,
  describeStep,
  directoryToDraft,
  draftToBody,
  draftToStep,
  emptyStep,
  fieldDomId,
  inheritedSteps,
  joinPath,
  knownFields,
  move,
  owningDirectory,
  parentOf,
  pathChain,
  resolveField,
  sizeFromText,
  splatToPath,
  stepToDraft,
  valueFromText,
  valueToText,
  visibleRows,
  vfsRoute,
} from './logic'

function dir(path: string, extra: Partial<VirtualDirectoryDoc> = {}): VirtualDirectoryDoc {
  const name = path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1)
  return {
    _id: `dir::${path}`,
    type: 'virtual_directory',
    inode: 1,
    virtual_path: path,
    name,
    parent_path: path === '/' ? undefined : parentOf(path),
    created_at: '2026-01-01T00:00:00Z',
    enforce_steps_on_children: false,
    mounts: [],
    ...extra,
  }
}

describe('paths', () => {
  it('joins, splits and chains', () => {
    expect(joinPath('/', 'a')).toBe('/a')
    expect(joinPath('/a', 'b c')).toBe('/a/b c')
    expect(parentOf('/a/b')).toBe('/a')
    expect(parentOf('/a')).toBe('/')
    expect(parentOf('/')).toBe('/')
    expect(pathChain('/a/b')).toEqual(['/', '/a', '/a/b'])
    expect(pathChain('/')).toEqual(['/'])
  })
  it('maps routes', () => {
    expect(splatToPath('')).toBe('/')
    expect(splatToPath(undefined)).toBe('/')
    expect(splatToPath('a/b/')).toBe('/a/b')
    expect(vfsRoute('/')).toBe('/vfs')
    expect(vfsRoute('/a b/c#d')).toBe('/vfs/a%20b/c%23d')
  })
  it('checks names', () => {
    expect(checkDirName('work')).toBeNull()
    expect(checkDirName(' ')).toMatch(/name/)
    expect(checkDirName('a/b')).toMatch(/\//)
    expect(checkDirName('..')).toMatch(/not names/)
  })
})

describe('tree', () => {
  const dirs = [dir('/b'), dir('/'), dir('/a/y'), dir('/a'), dir('/a/x'), dir('/a/x/deep')]
  it('nests by parent_path, sorted by name', () => {
    const t = buildTree(dirs)!
    const names = (n: typeof t): string => (n.children.length ? `${n.name}(${n.children.map(names).join(',')})` : n.name)
    expect(names(t)).toBe('/(a(x(deep),y),b)')
    expect(t.children[0].children[0].depth).toBe(2)
  })
  it('has no tree without a root', () => {
    expect(buildTree([dir('/a')])).toBeNull()
  })
  it('lists visible rows', () => {
    const t = buildTree(dirs)
    expect(visibleRows(t, new Set(['/'])).map((r) => r.path)).toEqual(['/', '/a', '/b'])
    expect(visibleRows(t, new Set(['/', '/a'])).map((r) => r.path)).toEqual(['/', '/a', '/a/x', '/a/y', '/b'])
  })
  it('counts descendants and finds the owner of a synthesized path', () => {
    expect(descendantCount(dirs, '/a')).toBe(3)
    expect(descendantCount(dirs, '/b')).toBe(0)
    expect(descendantCount([...dirs, dir('/ab')], '/a')).toBe(3)
    expect(owningDirectory(dirs, '/a/x/sub/deeper')?.virtual_path).toBe('/a/x')
    expect(owningDirectory(dirs, '/zz')?.virtual_path).toBe('/')
  })
  it('collects inherited steps, outermost first, in mount order', () => {
    const g = (pattern: string): Step => ({ op: 'glob', pattern })
    const m = (steps: Step[]) => ({ source: { node_id: '*', export_path: '/' }, strategy: 'flatten' as const, steps })
    const ds = [
      dir('/', { enforce_steps_on_children: true, mounts: [m([g('r1')]), m([g('r2')])] }),
      dir('/a', { enforce_steps_on_children: false, mounts: [m([g('no')])] }),
      dir('/a/b', { enforce_steps_on_children: true, mounts: [m([g('b1'), g('b2')])] }),
      dir('/a/b/c', { enforce_steps_on_children: true, mounts: [m([g('self')])] }),
    ]
    const got = inheritedSteps(ds, '/a/b/c')
    expect(got.map((s) => s.step.pattern)).toEqual(['r1', 'r2', 'b1', 'b2'])
    expect(got[1]).toMatchObject({ from: '/', mountIndex: 1, stepIndex: 0 })
    expect(got[3]).toMatchObject({ from: '/a/b', mountIndex: 0, stepIndex: 1 })
  })
})

describe('steps', () => {
  const every: Step[] = [
    { op: 'glob', pattern: '**/*.pdf' },
    { op: 'regex', pattern: '^report', invert: true },
    { op: 'age', max_days: 30 },
    { op: 'age', min_days: 1.5, max_days: 7, on_match: 'include' },
    { op: 'size', min: '1KiB', max: 10000000 },
    { op: 'mime', types: ['image/*', 'text/plain'] },
    { op: 'node', node_ids: ['laptop'] },
    { op: 'label', labels: ['work'], on_match: 'exclude' },
    { op: 'annotation', plugin_name: 'ai', key: 'topic' },
    { op: 'annotation', plugin_name: 'ai', key: 'score', value: 42 },
    { op: 'annotation', plugin_name: 'ai', key: 'topic', value: 'taxes' },
    { op: 'annotation', plugin_name: 'ai', key: 'n', value: '42' },
    { op: 'annotation', plugin_name: 'ai', key: 'o', value: { a: [1, true] } },
    { op: 'glob', pattern: '*.txt', future_flag: 'x' },
  ]
  it('round-trips every op and its parameters', () => {
    for (const s of every) expect(draftToStep(stepToDraft(s))).toEqual(s)
  })
  it('keeps an unknown op verbatim', () => {
    const s: Step = { op: 'semantic', query: 'cats', invert: true }
    const d = stepToDraft(s)
    expect(d.raw).toEqual(s)
    expect(draftToStep(d)).toEqual(s)
  })
  it('types parameters', () => {
    const d = { ...emptyStep('size'), min: ' 1024 ', max: '1.5GB' }
    expect(draftToStep(d)).toEqual({ op: 'size', min: 1024, max: '1.5GB' })
    expect(draftToStep({ ...emptyStep('age'), max_days: '30', min_days: 'soon' })).toEqual({ op: 'age', max_days: 30, min_days: 'soon' })
    expect(draftToStep({ ...emptyStep('glob') })).toEqual({ op: 'glob' })
    expect(sizeFromText('99999999999999999999')).toBe('99999999999999999999')
  })
  it('drops the parameters of another op when the op changes', () => {
    const d = stepToDraft({ op: 'glob', pattern: '*.pdf' })
    expect(draftToStep({ ...d, op: 'mime', types: ['a/b'] })).toEqual({ op: 'mime', types: ['a/b'] })
  })
  it('shows annotation values so they read back the same', () => {
    expect(valueToText('taxes')).toBe('taxes')
    expect(valueToText('42')).toBe('"42"')
    expect(valueToText(42)).toBe('42')
    expect(valueToText('')).toBe('""')
    expect(valueToText(undefined)).toBe('')
    expect(valueFromText('')).toBeUndefined()
    expect(valueFromText('true')).toBe(true)
    expect(valueFromText('hello world')).toBe('hello world')
  })
  it('describes steps', () => {
    expect(describeStep({ op: 'glob', pattern: '*.pdf' })).toBe('keep only if name/path matches *.pdf')
    expect(describeStep({ op: 'label', labels: ['a', 'b'], invert: true, on_match: 'exclude' })).toBe('if not (labelled a or b): exclude')
  })
})

describe('mounts and the directory draft', () => {
  it('round-trips a directory, keeping unknown fields', () => {
    const doc = {
      enforce_steps_on_children: true,
      mounts: [
        {
          mount_id: 'ab12cd34',
          source: { node_id: 'laptop', export_path: '/home/me/docs', extra_src: 1 },
          strategy: 'prefix_replace' as const,
          source_prefix: '/home/me',
          steps: [{ op: 'glob', pattern: '*.pdf' }],
          default_result: 'exclude' as const,
          conflict_policy: 'suffix_node_id' as const,
          future: { x: 1 },
        },
        {
          mount_id: 'm2',
          source: { node_id: '*', export_path: '/data' },
          strategy: 'flatten' as const,
          steps: [],
          default_result: 'include' as const,
          conflict_policy: 'last_write_wins' as const,
        },
      ],
    }
    expect(draftToBody(directoryToDraft(doc))).toEqual(doc)
  })
  it('fills defaults and omits an empty source prefix and a new mount id', () => {
    const d = directoryToDraft({ enforce_steps_on_children: false, mounts: [{ source: { node_id: '*', export_path: '/x' }, strategy: 'flatten', steps: [] }] })
    expect(draftToBody(d).mounts[0]).toEqual({
      source: { node_id: '*', export_path: '/x' },
      strategy: 'flatten',
      steps: [],
      default_result: 'include',
      conflict_policy: 'last_write_wins',
    })
  })
  it('moves items', () => {
    expect(move([1, 2, 3], 0, 1)).toEqual([2, 1, 3])
    expect(move([1, 2, 3], 2, -2)).toEqual([3, 1, 2])
    expect(move([1, 2, 3], 2, 1)).toEqual([1, 2, 3])
  })
})

describe('field errors', () => {
  const draft = directoryToDraft({
    enforce_steps_on_children: false,
    mounts: [
      {
        source: { node_id: '*', export_path: '/x' },
        strategy: 'flatten',
        steps: [
          { op: 'glob', pattern: '[' },
          { op: 'mime', types: ['a', '['] },
        ],
      },
    ],
  })
  const known = knownFields(draft)
  it('maps a field to its input', () => {
    expect(resolveField('mounts[0].steps[0].pattern', known)).toBe('mounts[0].steps[0].pattern')
    expect(resolveField('mounts[0].steps[1].types[1]', known)).toBe('mounts[0].steps[1].types')
    expect(resolveField('mounts[0].source.export_path', known)).toBe('mounts[0].source.export_path')
  })
  it('falls back to the nearest container', () => {
    expect(resolveField('mounts[0].steps[0].min', known)).toBe('mounts[0].steps[0]')
    expect(resolveField('mounts[0].source.other', known)).toBe('mounts[0].source')
    expect(resolveField('mounts[3].strategy', known)).toBe('mounts')
    expect(resolveField('path', known)).toBeNull()
    expect(resolveField(null, known)).toBeNull()
  })
  it('makes DOM ids', () => {
    expect(fieldDomId('mounts[0].steps[1].pattern')).toBe('vfs-mounts-0-steps-1-pattern')
    expect(fieldDomId('mounts[2]')).toBe('vfs-mounts-2')
  })
})
