import { describe, expect, it } from 'vitest'
import type { NodeDoc, StatusDoc } from '@/lib/docs'
import { ageSeconds, classifyNode, filesSeen, heartbeatText, isStale, isUnhealthy, nodeKind } from './health'

const now = Date.parse('2026-12-03T10:00:00Z')
const ago = (s: number) => new Date(now - s * 1000).toISOString()
const node = (p: Partial<NodeDoc> = {}): NodeDoc => ({
  _id: 'node::a',
  type: 'node',
  node_id: 'a',
  friendly_name: 'A',
  platform: 'linux',
  status: 'online',
  last_heartbeat: ago(5),
  ...p,
})
const status = (overall: string, p: Partial<StatusDoc> = {}): StatusDoc => ({
  _id: 'status::a',
  type: 'agent_status',
  node_id: 'a',
  updated_at: ago(1),
  overall,
  subsystems: {},
  recent_errors: [],
  ...p,
})

describe('staleness', () => {
  it('is stale only past 3 intervals of 30 s', () => {
    expect(isStale(ago(90), now)).toBe(false)
    expect(isStale(ago(91), now)).toBe(true)
    expect(isStale(ago(20), now, 5)).toBe(true)
  })
  it('treats a missing or broken heartbeat as stale', () => {
    expect(isStale(undefined, now)).toBe(true)
    expect(isStale('garbage', now)).toBe(true)
  })
  it('never gives negative ages (clock skew)', () => {
    expect(ageSeconds(new Date(now + 5000).toISOString(), now)).toBe(0)
  })
})

describe('classifyNode', () => {
  it('online and healthy', () => expect(classifyNode(node(), status('healthy'), now)).toBe('online'))
  it('online without a status yet', () => expect(classifyNode(node(), undefined, now)).toBe('online'))
  it('offline wins over staleness', () => expect(classifyNode(node({ status: 'offline', last_heartbeat: ago(9999) }), undefined, now)).toBe('offline'))
  it('disabled wins over everything', () => expect(classifyNode(node({ disabled: true, status: 'offline' }), undefined, now)).toBe('disabled'))
  it('online with an old heartbeat is stale', () => expect(classifyNode(node({ last_heartbeat: ago(200) }), status('healthy'), now)).toBe('stale'))
  it('degraded node or unhealthy agent is degraded', () => {
    expect(classifyNode(node({ status: 'degraded' }), undefined, now)).toBe('degraded')
    expect(classifyNode(node(), status('unhealthy'), now)).toBe('degraded')
  })
  it('flags what needs attention', () => {
    expect(isUnhealthy('online')).toBe(false)
    expect(isUnhealthy('disabled')).toBe(false)
    expect(isUnhealthy('stale')).toBe(true)
    expect(isUnhealthy('offline')).toBe(true)
  })
})

describe('helpers', () => {
  it('kind', () => {
    expect(nodeKind({ role: 'bridge' })).toBe('bridge')
    expect(nodeKind({})).toBe('physical')
  })
  it('files seen', () => {
    expect(filesSeen(status('healthy', { subsystems: { crawler: { status: 'ok', files_seen: 35 } as never } }))).toBe(35)
    expect(filesSeen(status('healthy'))).toBeNull()
    expect(filesSeen(undefined)).toBeNull()
  })
  it('heartbeat text ticks by the second', () => {
    expect(heartbeatText(ago(7), now)).toBe('7 s ago')
    expect(heartbeatText(ago(125), now)).toBe('2 min ago')
    expect(heartbeatText(ago(7200), now)).toBe('2 h ago')
    expect(heartbeatText(undefined, now)).toBe('never')
  })
})
