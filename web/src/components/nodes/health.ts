// Node health, pure: how a node is shown from its document, its agent_status
// document and the age of its last heartbeat. Tested in health.test.ts.
import type { NodeDoc, StatusDoc } from '@/lib/docs'

/** The agent's default `heartbeat_interval_secs` (docs/architecture.md, agent.toml). */
export const HEARTBEAT_INTERVAL_SECS = 30
/** A node whose last heartbeat is older than this many intervals is shown stale. */
export const STALE_AFTER_INTERVALS = 3

export type Health = 'online' | 'degraded' | 'stale' | 'offline' | 'disabled'

/** Seconds since `iso` (never negative), or null when unknown. */
export function ageSeconds(iso: string | null | undefined, now: number): number | null {
  if (!iso) return null
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return null
  return Math.max(0, Math.floor((now - t) / 1000))
}

/** True when the last heartbeat is older than 3× the heartbeat interval (or missing). */
export function isStale(lastHeartbeat: string | null | undefined, now: number, intervalSecs = HEARTBEAT_INTERVAL_SECS): boolean {
  const age = ageSeconds(lastHeartbeat, now)
  return age == null || age > STALE_AFTER_INTERVALS * intervalSecs
}

/**
 * How a node is shown. Disabled and offline come from the node document;
 * an `online` node whose heartbeat stopped is `stale`; an `online` node whose
 * agent reports `degraded`/`unhealthy` (or the node says `degraded`) is
 * `degraded`.
 */
export function classifyNode(node: NodeDoc, status: StatusDoc | undefined, now: number): Health {
  if (node.disabled) return 'disabled'
  if (node.status === 'offline') return 'offline'
  if (isStale(node.last_heartbeat, now)) return 'stale'
  if (node.status === 'degraded') return 'degraded'
  if (status && status.overall !== 'healthy') return 'degraded'
  return 'online'
}

/** Health values that need the user's attention (the dashboard's error banner). */
export function isUnhealthy(h: Health): boolean {
  return h === 'offline' || h === 'stale' || h === 'degraded'
}

export const HEALTH_LABEL: Record<Health, string> = {
  online: 'Online',
  degraded: 'Degraded',
  stale: 'Stale (no heartbeat)',
  offline: 'Offline',
  disabled: 'Disabled',
}


export type NodeKind = 'physical' | 'bridge'

/** `role: "bridge"` → bridge; anything else is a physical agent. */
export function nodeKind(node: Pick<NodeDoc, 'role'>): NodeKind {
  return node.role === 'bridge' ? 'bridge' : 'physical'
}

/** Files the node's crawler saw in its last crawl (`subsystems.crawler.files_seen`), if reported. */
export function filesSeen(status: StatusDoc | undefined): number | null {
  const c = status?.subsystems?.crawler as { files_seen?: unknown } | undefined
  return typeof c?.files_seen === 'number' ? c.files_seen : null
}

/** `"42 s ago"` style age for a heartbeat, ticking by the second below a minute. */
export function heartbeatText(iso: string | null | undefined, now: number): string {
  const age = ageSeconds(iso, now)
  if (age == null) return 'never'
  if (age < 60) return `${age} s ago`
  if (age < 3600) return `${Math.floor(age / 60)} min ago`
  if (age < 86400) return `${Math.floor(age / 3600)} h ago`
  return `${Math.floor(age / 86400)} d ago`
}
