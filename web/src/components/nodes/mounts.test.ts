import { describe, expect, it } from 'vitest'
import { bodyOf, draftOf, EMPTY_DRAFT, patchOf, validateDraft } from './mounts'

const m = { mount_id: 'ab12cd34', remote_node_id: 'nas', remote_base_export_path: '/export', local_mount_path: '/mnt/nas', mount_type: 'nfs', priority: 1 }

describe('mount form', () => {
  it('flags missing and relative fields', () => {
    const e = validateDraft({ ...EMPTY_DRAFT, remote_base_export_path: 'export', priority: 'x' })
    expect(Object.keys(e).sort()).toEqual(['local_mount_path', 'priority', 'remote_base_export_path', 'remote_node_id'])
  })
  it('accepts a good draft', () => expect(validateDraft(draftOf(m))).toEqual({}))
  it('builds the body with a numeric priority', () => expect(bodyOf({ ...draftOf(m), priority: ' -3 ' }).priority).toBe(-3))
  it('patches only what changed', () => {
    expect(patchOf(m, bodyOf(draftOf(m)))).toEqual({})
    expect(patchOf(m, bodyOf({ ...draftOf(m), local_mount_path: '/mnt/x', priority: '2' }))).toEqual({ local_mount_path: '/mnt/x', priority: 2 })
  })
})
