// Pure logic of the virtual filesystem page: the directory tree, inherited
// steps, the draft ↔ document conversion of the mount editor (typed step
// parameters ↔ JSON), and the mapping of the API's field errors
// (`mounts[0].steps[1].pattern`) to the editor's inputs. Tested in logic.test.ts.
import type { MountEntry, Step, VirtualDirectoryDoc } from '@/lib/docs'

// ---------------------------------------------------------------------------
// Paths and the tree.

/** `/a` + `b` → `/a/b`; `/` + `b` → `/b`. */
export function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`
}

/** The parent of a virtual path (`/` for `/a` and for `/`). */
export function parentOf(path: string): string {
  if (path === '/') return '/'
  const i = path.lastIndexOf('/')
  return i <= 0 ? '/' : path.slice(0, i)
}

/** `/a/b/c` → `['/', '/a', '/a/b', '/a/b/c']`. */
export function pathChain(path: string): string[] {
  const out = ['/']
  let cur = ''
  for (const seg of path.split('/').filter(Boolean)) {
    cur += `/${seg}`
    out.push(cur)
  }
  return out
}

/** The splat of `/vfs/*` → a virtual path (`''` → `/`, trailing slash dropped). */
export function splatToPath(splat: string | undefined): string {
  const segs = (splat ?? '').split('/').filter(Boolean)
  return segs.length ? `/${segs.join('/')}` : '/'
}

/** The `/vfs/…` route of a virtual path, each segment percent-encoded. */
export function vfsRoute(path: string): string {
  const segs = path.split('/').filter(Boolean).map(encodeURIComponent)
  return segs.length ? `/vfs/${segs.join('/')}` : '/vfs'
}

/** A name for a new directory: `null` when fine, else what is wrong. */
export function checkDirName(name: string): string | null {
  if (!name.trim()) return 'Enter a name.'
  if (name.includes('/')) return 'A name cannot contain “/”.'
  if (name === '.' || name === '..') return '“.” and “..” are not names.'
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f]/.test(name)) return 'A name cannot contain control characters.'
  return null
}

export interface TreeNode {
  path: string
  name: string
  doc: VirtualDirectoryDoc
  depth: number
  children: TreeNode[]
}

/** Nests directory documents by `parent_path`, children sorted by name. `null` without a root. */
export function buildTree(dirs: VirtualDirectoryDoc[]): TreeNode | null {
  const byParent = new Map<string, VirtualDirectoryDoc[]>()
  let root: VirtualDirectoryDoc | undefined
  for (const d of dirs) {
    if (d.virtual_path === '/') root = d
    else if (d.parent_path) {
      const l = byParent.get(d.parent_path) ?? []
      l.push(d)
      byParent.set(d.parent_path, l)
    }
  }
  if (!root) return null
  const seen = new Set<string>()
  const node = (d: VirtualDirectoryDoc, depth: number): TreeNode => {
    seen.add(d.virtual_path)
    const kids = (byParent.get(d.virtual_path) ?? [])
      .filter((k) => !seen.has(k.virtual_path))
      .sort((a, b) => a.name.localeCompare(b.name))
    return { path: d.virtual_path, name: d.name || '/', doc: d, depth, children: kids.map((k) => node(k, depth + 1)) }
  }
  return node(root, 0)
}

/** The tree's rows in display order, descending only into expanded nodes. */
export function visibleRows(root: TreeNode | null, expanded: Set<string>): TreeNode[] {
  const out: TreeNode[] = []
  const walk = (n: TreeNode) => {
    out.push(n)
    if (expanded.has(n.path)) n.children.forEach(walk)
  }
  if (root) walk(root)
  return out
}

/** How many directory documents lie below `path` (what a recursive delete removes). */
export function descendantCount(dirs: VirtualDirectoryDoc[], path: string): number {
  const below = path === '/' ? '/' : `${path}/`
  return dirs.filter((d) => d.virtual_path !== path && d.virtual_path.startsWith(below)).length
}

/** The nearest directory document at or above `path` (a synthesized directory's owner). */
export function owningDirectory(dirs: VirtualDirectoryDoc[], path: string): VirtualDirectoryDoc | undefined {
  const byPath = new Map(dirs.map((d) => [d.virtual_path, d]))
  const chain = pathChain(path)
  for (let i = chain.length - 1; i >= 0; i--) {
    const d = byPath.get(chain[i])
    if (d) return d
  }
  return undefined
}

export interface InheritedStep {
  /** The ancestor directory the step comes from. */
  from: string
  mountIndex: number
  stepIndex: number
  step: Step
}

/**
 * The steps a directory inherits: those of every mount of every ancestor with
 * `enforce_steps_on_children`, outermost ancestor first, in mount order.
 */
export function inheritedSteps(dirs: VirtualDirectoryDoc[], path: string): InheritedStep[] {
  const byPath = new Map(dirs.map((d) => [d.virtual_path, d]))
  const out: InheritedStep[] = []
  const chain = pathChain(path).slice(0, -1)
  for (const p of chain) {
    const d = byPath.get(p)
    if (!d?.enforce_steps_on_children) continue
    d.mounts.forEach((m, mi) => (m.steps ?? []).forEach((s, si) => out.push({ from: p, mountIndex: mi, stepIndex: si, step: s })))
  }
  return out
}

// ---------------------------------------------------------------------------
// Steps: the ops the rule engine knows and a typed draft of each step.

export const STEP_OPS = ['glob', 'regex', 'age', 'size', 'mime', 'node', 'label', 'annotation'] as const
export type StepOp = (typeof STEP_OPS)[number]

export const OP_LABEL: Record<StepOp, string> = {
  glob: 'Glob (name or path)',
  regex: 'Regex (name)',
  age: 'Age (days since modified)',
  size: 'Size',
  mime: 'MIME type',
  node: 'Node',
  label: 'Label',
  annotation: 'Annotation',
}

/** The parameters each op takes (other fields are dropped when the op changes). */
export const OP_PARAMS: Record<StepOp, string[]> = {
  glob: ['pattern'],
  regex: ['pattern'],
  age: ['min_days', 'max_days'],
  size: ['min', 'max'],
  mime: ['types'],
  node: ['node_ids'],
  label: ['labels'],
  annotation: ['plugin_name', 'key', 'value'],
}

const KNOWN_STEP_FIELDS = new Set(['op', 'invert', 'on_match', 'pattern', 'min_days', 'max_days', 'min', 'max', 'types', 'node_ids', 'labels', 'plugin_name', 'key', 'value'])

export type OnMatch = '' | 'include' | 'exclude'

/** A step as the editor holds it: every parameter as the text of its input. */
export interface StepDraft {
  uid: string
  /** One of STEP_OPS, or an op this UI does not know (kept verbatim). */
  op: string
  invert: boolean
  on_match: OnMatch
  pattern: string
  min_days: string
  max_days: string
  min: string
  max: string
  types: string[]
  node_ids: string[]
  labels: string[]
  plugin_name: string
  key: string
  /** JSON text of the expected value; plain text is a string; empty: the key only has to exist. */
  value: string
  /** Fields this UI does not know, kept as they were. */
  extra: Record<string, unknown>
  /** For an unknown op: the whole stored step, sent back unchanged. */
  raw?: Step
}

let uidCounter = 0
/** A key for React lists (not sent to the server). */
export function uid(prefix = 'k'): string {
  uidCounter += 1
  return `${prefix}${uidCounter}`
}

export function isKnownOp(op: string): op is StepOp {
  return (STEP_OPS as readonly string[]).includes(op)
}

export function emptyStep(op: StepOp = 'glob'): StepDraft {
  return {
    uid: uid('s'),
    op,
    invert: false,
    on_match: '',
    pattern: '',
    min_days: '',
    max_days: '',
    min: '',
    max: '',
    types: [],
    node_ids: [],
    labels: [],
    plugin_name: '',
    key: '',
    value: '',
    extra: {},
  }
}

const str = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'string' ? v : String(v))
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map((x) => str(x)) : [])

/** How a JSON value is shown in the annotation value input (round-trips through valueFromText). */
export function valueToText(v: unknown): string {
  if (v === undefined || v === null) return v === null ? 'null' : ''
  if (typeof v === 'string') {
    // A string that would read back as something else (42, true, "x") is shown as JSON.
    if (v === '') return '""'
    try {
      JSON.parse(v)
      return JSON.stringify(v)
    } catch {
      return v
    }
  }
  return JSON.stringify(v)
}

/** The annotation value input → JSON: valid JSON as such, anything else as a string; empty → absent. */
export function valueFromText(t: string): unknown {
  if (t.trim() === '') return undefined
  try {
    return JSON.parse(t)
  } catch {
    return t
  }
}

/** A stored step → its draft. */
export function stepToDraft(step: Step): StepDraft {
  const d = emptyStep()
  d.op = String(step.op ?? '')
  d.invert = step.invert === true
  d.on_match = step.on_match === 'include' || step.on_match === 'exclude' ? step.on_match : ''
  d.pattern = str(step.pattern)
  d.min_days = str(step.min_days)
  d.max_days = str(step.max_days)
  d.min = str(step.min)
  d.max = str(step.max)
  d.types = list(step.types)
  d.node_ids = list(step.node_ids)
  d.labels = list(step.labels)
  d.plugin_name = str(step.plugin_name)
  d.key = str(step.key)
  d.value = valueToText(step.value)
  for (const [k, v] of Object.entries(step)) if (!KNOWN_STEP_FIELDS.has(k)) d.extra[k] = v
  if (!isKnownOp(d.op)) d.raw = step
  return d
}

/** `"30"` → 30; text that is not a number is sent as is, so the server names the field. */
function numberOrText(t: string): number | string {
  const s = t.trim()
  const n = Number(s)
  return s !== '' && Number.isFinite(n) ? n : s
}

/** A size input → JSON: a whole number of bytes as a number, anything else (`10MB`) as a string. */
export function sizeFromText(t: string): number | string {
  const s = t.trim()
  return /^\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : s
}

/** A draft → the step JSON the API takes (only the parameters of its op). */
export function draftToStep(d: StepDraft): Step {
  if (!isKnownOp(d.op)) return d.raw ?? { op: d.op }
  const s: Step = { op: d.op, ...d.extra }
  if (d.invert) s.invert = true
  if (d.on_match) s.on_match = d.on_match
  const text = (k: 'pattern' | 'plugin_name' | 'key') => {
    if (d[k] !== '') s[k] = d[k]
  }
  switch (d.op) {
    case 'glob':
    case 'regex':
      text('pattern')
      break
    case 'age':
      if (d.min_days.trim() !== '') s.min_days = numberOrText(d.min_days)
      if (d.max_days.trim() !== '') s.max_days = numberOrText(d.max_days)
      break
    case 'size':
      if (d.min.trim() !== '') s.min = sizeFromText(d.min)
      if (d.max.trim() !== '') s.max = sizeFromText(d.max)
      break
    case 'mime':
      s.types = d.types
      break
    case 'node':
      s.node_ids = d.node_ids
      break
    case 'label':
      s.labels = d.labels
      break
    case 'annotation': {
      text('plugin_name')
      text('key')
      const v = valueFromText(d.value)
      if (v !== undefined) s.value = v
      break
    }
  }
  return s
}

/** A short human summary of a step (for inherited steps and mount summaries). */
export function describeStep(step: Step): string {
  const d = stepToDraft(step)
  let what: string
  switch (d.op) {
    case 'glob':
      what = `name/path matches ${d.pattern}`
      break
    case 'regex':
      what = `name matches /${d.pattern}/`
      break
    case 'age':
      what = [d.min_days && `≥ ${d.min_days} days old`, d.max_days && `≤ ${d.max_days} days old`].filter(Boolean).join(' and ')
      break
    case 'size':
      what = [d.min && `≥ ${d.min}`, d.max && `≤ ${d.max}`].filter(Boolean).join(' and ')
      break
    case 'mime':
      what = `type is ${d.types.join(' or ')}`
      break
    case 'node':
      what = `on node ${d.node_ids.join(' or ')}`
      break
    case 'label':
      what = `labelled ${d.labels.join(' or ')}`
      break
    case 'annotation':
      what = `annotation ${d.plugin_name}.${d.key}${d.value ? ` = ${d.value}` : ' exists'}`
      break
    default:
      what = `unknown op “${d.op}”`
  }
  const cond = d.invert ? `not (${what})` : what
  return d.on_match ? `if ${cond}: ${d.on_match}` : `keep only if ${cond}`
}

// ---------------------------------------------------------------------------
// Mounts.

export type Strategy = 'prefix_replace' | 'flatten'
export type DefaultResult = 'include' | 'exclude'
export type ConflictPolicy = 'last_write_wins' | 'suffix_node_id'

export interface MountDraft {
  uid: string
  /** Absent for a new mount: the server generates one. */
  mount_id?: string
  node_id: string
  export_path: string
  strategy: Strategy
  /** Empty: defaults to the export path. */
  source_prefix: string
  default_result: DefaultResult
  conflict_policy: ConflictPolicy
  steps: StepDraft[]
  extra: Record<string, unknown>
  sourceExtra: Record<string, unknown>
}

const KNOWN_MOUNT_FIELDS = new Set(['mount_id', 'source', 'strategy', 'source_prefix', 'steps', 'default_result', 'conflict_policy'])

export function emptyMount(nodeId = '*'): MountDraft {
  return {
    uid: uid('m'),
    node_id: nodeId,
    export_path: '',
    strategy: 'prefix_replace',
    source_prefix: '',
    default_result: 'include',
    conflict_policy: 'last_write_wins',
    steps: [],
    extra: {},
    sourceExtra: {},
  }
}

export function mountToDraft(m: MountEntry): MountDraft {
  const extra: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(m)) if (!KNOWN_MOUNT_FIELDS.has(k)) extra[k] = v
  const { node_id, export_path, ...sourceExtra } = m.source ?? { node_id: '*', export_path: '' }
  return {
    uid: uid('m'),
    mount_id: m.mount_id,
    node_id: str(node_id),
    export_path: str(export_path),
    strategy: m.strategy === 'flatten' ? 'flatten' : 'prefix_replace',
    source_prefix: str(m.source_prefix),
    default_result: m.default_result === 'exclude' ? 'exclude' : 'include',
    conflict_policy: m.conflict_policy === 'suffix_node_id' ? 'suffix_node_id' : 'last_write_wins',
    steps: (m.steps ?? []).map(stepToDraft),
    extra,
    sourceExtra,
  }
}

export function draftToMount(d: MountDraft): MountEntry {
  const m: MountEntry = {
    ...d.extra,
    ...(d.mount_id ? { mount_id: d.mount_id } : {}),
    source: { ...d.sourceExtra, node_id: d.node_id, export_path: d.export_path },
    strategy: d.strategy,
    steps: d.steps.map(draftToStep),
    default_result: d.default_result,
    conflict_policy: d.conflict_policy,
  }
  if (d.source_prefix !== '') m.source_prefix = d.source_prefix
  return m
}

export interface DirectoryDraft {
  enforce_steps_on_children: boolean
  mounts: MountDraft[]
}

export function directoryToDraft(d: Pick<VirtualDirectoryDoc, 'enforce_steps_on_children' | 'mounts'>): DirectoryDraft {
  return { enforce_steps_on_children: !!d.enforce_steps_on_children, mounts: (d.mounts ?? []).map(mountToDraft) }
}

/** The body of the PATCH and of the preview. */
export function draftToBody(d: DirectoryDraft): { enforce_steps_on_children: boolean; mounts: MountEntry[] } {
  return { enforce_steps_on_children: d.enforce_steps_on_children, mounts: d.mounts.map(draftToMount) }
}

/** Moves `list[i]` by `delta` places (no-op at the ends). */
export function move<T>(list: T[], i: number, delta: number): T[] {
  const j = i + delta
  if (i < 0 || i >= list.length || j < 0 || j >= list.length) return list
  const out = list.slice()
  const [x] = out.splice(i, 1)
  out.splice(j, 0, x)
  return out
}

// ---------------------------------------------------------------------------
// Field paths: the key of each input, and the input an API error belongs to.

export const mountField = (i: number, name: string) => `mounts[${i}].${name}`
export const stepField = (i: number, j: number, name: string) => `mounts[${i}].steps[${j}].${name}`

/**
 * The input an API error belongs to: its field with the list index of a
 * parameter dropped (`types[2]` → `types`), or the nearest enclosing field
 * that has an input (a step, a mount, `mounts`), or `null` (the editor as a whole).
 */
export function resolveField(field: string | null | undefined, known: Set<string>): string | null {
  if (!field) return null
  let f = field.replace(/^(mounts\[\d+\]\.steps\[\d+\]\.[a-z_]+)\[\d+\]$/, '$1')
  for (;;) {
    if (known.has(f)) return f
    const cut = Math.max(f.lastIndexOf('.'), f.lastIndexOf('['))
    if (cut <= 0) return known.has(f) ? f : null
    f = f.slice(0, cut)
  }
}

/** Every field key the editor has an input (or a container) for, given the draft. */
export function knownFields(d: DirectoryDraft): Set<string> {
  const s = new Set<string>(['mounts', 'enforce_steps_on_children'])
  d.mounts.forEach((m, i) => {
    s.add(`mounts[${i}]`)
    for (const f of ['mount_id', 'source', 'source.node_id', 'source.export_path', 'strategy', 'source_prefix', 'steps', 'default_result', 'conflict_policy'])
      s.add(mountField(i, f))
    m.steps.forEach((st, j) => {
      s.add(`mounts[${i}].steps[${j}]`)
      s.add(stepField(i, j, 'op'))
      s.add(stepField(i, j, 'invert'))
      s.add(stepField(i, j, 'on_match'))
      if (isKnownOp(st.op)) for (const p of OP_PARAMS[st.op]) s.add(stepField(i, j, p))
    })
  })
  return s
}

/** A DOM id for a field key: `mounts[0].steps[1].pattern` → `vfs-mounts-0-steps-1-pattern`. */
export function fieldDomId(field: string): string {
  return `vfs-${field.replace(/[[\].]+/g, '-').replace(/-$/, '')}`
}
