// The dashboard (plan 5.5): node health strip, error banner, search, system
// totals and recent activity. Everything but the storage totals comes from the
// browser replica, so the page paints at once and moves live with heartbeats.
import { useQuery } from '@tanstack/react-query'
import { AlertTriangle, Search } from 'lucide-react'
import { useMemo, useState, type FormEvent, type ReactNode } from 'react'
import { Link, useNavigate } from 'react-router-dom'
import { EmptyState, ErrorMessage, NodeBadge, PageHeader } from '@/components/common'
import { activeErrors, activityFeed } from '@/components/dashboard/activity'
import { HealthBadge } from '@/components/nodes/HealthBadge'
import { classifyNode, filesSeen, heartbeatText, isUnhealthy, nodeKind, type Health } from '@/components/nodes/health'
import { useNow } from '@/components/nodes/useNow'
import { storageTotals, type StorageOverview } from '@/components/storage/types'
import { Button } from '@/components/ui/button'
import { Card, CardContent, CardHeader } from '@/components/ui/card'
import { Input } from '@/components/ui/input'
import { Label } from '@/components/ui/label'
import { Skeleton } from '@/components/ui/skeleton'
import { api } from '@/lib/api'
import { useNodes, useNotifications, useStatuses, type NodeDoc, type StatusDoc } from '@/lib/docs'
import { humanCount, humanSize, relativeTime } from '@/lib/format'
import { cn } from '@/lib/utils'

interface Row {
  node: NodeDoc
  status: StatusDoc | undefined
  health: Health
}

function useNodeRows(now: number) {
  const nodes = useNodes()
  const statuses = useStatuses()
  const rows = useMemo<Row[]>(() => {
    const byNode = new Map((statuses.data ?? []).map((s) => [s.node_id, s]))
    return (nodes.data ?? [])
      .map((node) => {
        const status = byNode.get(node.node_id)
        return { node, status, health: classifyNode(node, status, now) }
      })
      .sort((a, b) => (a.node.friendly_name || a.node.node_id).localeCompare(b.node.friendly_name || b.node.node_id))
  }, [nodes.data, statuses.data, now])
  return { rows, loading: nodes.isPending, error: nodes.error, statuses: statuses.data ?? [] }
}

function NodeCard({ row, now }: { row: Row; now: number }) {
  const { node, status, health } = row
  const files = filesSeen(status)
  return (
    <Link
      to={`/nodes/${encodeURIComponent(node.node_id)}`}
      data-testid="node-card"
      data-node-id={node.node_id}
      data-status={health}
      className={cn(
        'block rounded-lg border bg-card p-3 text-card-foreground shadow-sm transition-colors hover:bg-muted/50 focus-visible:outline-2 focus-visible:outline-ring',
        isUnhealthy(health) && 'border-destructive/50',
      )}
    >
      <div className="flex items-start justify-between gap-2">
        <span className="truncate font-medium" title={node.node_id}>
          {node.friendly_name || node.node_id}
        </span>
        <HealthBadge health={health} />
      </div>
      <dl className="mt-2 grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 text-xs text-muted-foreground">
        <dt>Heartbeat</dt>
        <dd data-testid="heartbeat-age" title={node.last_heartbeat}>
          {heartbeatText(node.last_heartbeat, now)}
        </dd>
        <dt>Kind</dt>
        <dd>
          {nodeKind(node) === 'bridge' ? 'Bridge' : 'Agent'} · {node.platform}
        </dd>
        {files != null && (
          <>
            <dt>Files</dt>
            <dd>{humanCount(files)}</dd>
          </>
        )}
      </dl>
    </Link>
  )
}

function HealthStrip({ rows, loading, now }: { rows: Row[]; loading: boolean; now: number }) {
  return (
    <section aria-labelledby="health-title" className="grid gap-2">
      <h2 id="health-title" className="text-sm font-semibold">
        Nodes
      </h2>
      <div data-testid="health-strip" className="grid grid-cols-[repeat(auto-fill,minmax(14rem,1fr))] gap-3">
        {loading ? (
          Array.from({ length: 3 }, (_, i) => <Skeleton key={i} className="h-24" />)
        ) : rows.length === 0 ? (
          <div className="col-span-full">
            <EmptyState title="No nodes yet">
              Install the MosaicFS agent on a machine and run <code>mosaicfs-agent init</code>; it appears here once it registers.
            </EmptyState>
          </div>
        ) : (
          rows.map((r) => <NodeCard key={r.node.node_id} row={r} now={now} />)
        )}
      </div>
    </section>
  )
}

function ErrorBanner({ rows, errorCount }: { rows: Row[]; errorCount: number }) {
  const bad = rows.filter((r) => isUnhealthy(r.health))
  if (bad.length === 0 && errorCount === 0) return null
  const parts: string[] = []
  if (bad.length > 0) {
    parts.push(
      bad
        .map((r) => `${r.node.friendly_name || r.node.node_id} is ${r.health === 'stale' ? 'not sending heartbeats' : r.health}`)
        .join('; '),
    )
  }
  if (errorCount > 0) parts.push(`${errorCount} active error notification${errorCount === 1 ? '' : 's'}`)
  return (
    <div
      role="alert"
      data-testid="error-banner"
      className="flex items-start gap-2 rounded-md border border-destructive/40 bg-destructive/10 p-3 text-sm text-destructive"
    >
      <AlertTriangle className="mt-0.5 size-4 shrink-0" aria-hidden="true" />
      <span>
        <strong className="font-semibold">Needs attention: </strong>
        {parts.join('. ')}.{' '}
        <Link to="/nodes" className="underline underline-offset-2">
          See nodes
        </Link>
      </span>
    </div>
  )
}

function SearchBar() {
  const [q, setQ] = useState('')
  const navigate = useNavigate()
  function submit(e: FormEvent) {
    e.preventDefault()
    const t = q.trim()
    navigate(t ? `/search?q=${encodeURIComponent(t)}` : '/search')
  }
  return (
    <form role="search" onSubmit={submit} data-testid="dashboard-search" className="grid gap-1.5">
      <Label htmlFor="dashboard-q" className="sr-only">
        Search files by name
      </Label>
      <div className="flex gap-2">
        <Input id="dashboard-q" type="search" placeholder="Search files by name or glob (*.pdf)…" value={q} onChange={(e) => setQ(e.target.value)} aria-describedby="dashboard-q-hint" />
        <Button type="submit">
          <Search aria-hidden="true" /> Search
        </Button>
      </div>
      <p id="dashboard-q-hint" className="text-xs text-muted-foreground">
        Tip: press <kbd className="rounded border bg-muted px-1 font-mono">Ctrl</kbd>+<kbd className="rounded border bg-muted px-1 font-mono">K</kbd> or{' '}
        <kbd className="rounded border bg-muted px-1 font-mono">/</kbd> anywhere to search.
      </p>
    </form>
  )
}

function Stat({ label, value, hint, testid }: { label: string; value: ReactNode; hint?: string; testid?: string }) {
  return (
    <div className="rounded-lg border bg-card p-3" data-testid={testid}>
      <p className="text-xs text-muted-foreground">{label}</p>
      <div className="text-lg font-semibold">{value}</div>
      {hint && <p className="text-xs text-muted-foreground">{hint}</p>}
    </div>
  )
}

function Totals({ rows, statuses }: { rows: Row[]; statuses: StatusDoc[] }) {
  const storage = useQuery({ queryKey: ['storage'], queryFn: ({ signal }) => api<StorageOverview>('/api/storage', { signal }) })
  const online = rows.filter((r) => r.health === 'online' || r.health === 'degraded').length
  const counts = statuses.map(filesSeen).filter((n): n is number => n != null)
  const files = counts.length ? counts.reduce((a, b) => a + b, 0) : null
  const t = storage.data ? storageTotals(storage.data) : null
  return (
    <section aria-labelledby="totals-title" className="grid gap-2">
      <h2 id="totals-title" className="text-sm font-semibold">
        System
      </h2>
      <div data-testid="totals" className="grid grid-cols-2 gap-3 lg:grid-cols-4">
        <Stat label="Nodes" value={humanCount(rows.length)} hint={`${online} online`} testid="total-nodes" />
        <Stat
          label="Files"
          value={files == null ? '—' : humanCount(files)}
          hint={files == null ? 'no crawl reported yet' : 'seen by the last crawl of each node'}
          testid="total-files"
        />
        <Stat
          label="Storage used"
          testid="total-used"
          value={storage.isPending ? <Skeleton className="mt-1 h-6 w-24" /> : t ? humanSize(t.used) : '—'}
          hint={t ? `of ${humanSize(t.capacity)} on ${t.filesystems} filesystem${t.filesystems === 1 ? '' : 's'}` : undefined}
        />
        <Stat
          label="Free"
          testid="total-free"
          value={storage.isPending ? <Skeleton className="mt-1 h-6 w-24" /> : t ? humanSize(Math.max(0, t.capacity - t.used)) : '—'}
          hint="on filesystems holding watch paths"
        />
      </div>
      {storage.error && <ErrorMessage error={storage.error} />}
    </section>
  )
}

function RecentActivity({ statuses, now }: { statuses: StatusDoc[]; now: number }) {
  const notifications = useNotifications()
  const feed = useMemo(() => activityFeed(notifications.data ?? [], statuses), [notifications.data, statuses])
  return (
    <Card>
      <CardHeader>
        <h2 className="text-sm font-semibold leading-none">Recent activity</h2>
      </CardHeader>
      <CardContent>
        {notifications.isPending ? (
          <div className="grid gap-2">
            <Skeleton className="h-8" />
            <Skeleton className="h-8" />
          </div>
        ) : feed.length === 0 ? (
          <p className="text-sm text-muted-foreground" data-testid="activity-empty">
            Nothing to report: no notifications and no recent agent errors.
          </p>
        ) : (
          <ul className="grid gap-2" data-testid="activity">
            {feed.map((a) => (
              <li key={a.key} className="flex items-start gap-3 rounded-md border p-2 text-sm">
                <span
                  role="img"
                  aria-label={a.severity}
                  className={cn(
                    'mt-1.5 inline-block size-2 shrink-0 rounded-full',
                    a.severity === 'error' ? 'bg-destructive' : a.severity === 'warning' ? 'bg-warning' : 'bg-primary',
                  )}
                />
                <div className="min-w-0 flex-1">
                  <p className="font-medium">
                    {a.title}
                    {a.kind === 'notification' && !a.active && <span className="ml-2 text-xs font-normal text-muted-foreground">(resolved)</span>}
                  </p>
                  <p className="break-words text-xs text-muted-foreground">{a.message}</p>
                </div>
                <div className="flex shrink-0 flex-col items-end gap-1">
                  {a.nodeId && a.nodeId !== 'control_plane' && <NodeBadge nodeId={a.nodeId} />}
                  <time dateTime={a.time} title={a.time} className="text-xs text-muted-foreground">
                    {relativeTime(a.time, now)}
                  </time>
                </div>
              </li>
            ))}
          </ul>
        )}
      </CardContent>
    </Card>
  )
}

export default function Dashboard() {
  const now = useNow(2000)
  const { rows, loading, error, statuses } = useNodeRows(now)
  const notifications = useNotifications()
  const errors = activeErrors(notifications.data ?? [])
  return (
    <div className="grid gap-6">
      <PageHeader title="Dashboard" description="Your machines and files at a glance." />
      <ErrorBanner rows={rows} errorCount={errors.length} />
      {error && <ErrorMessage error={error} />}
      <SearchBar />
      <HealthStrip rows={rows} loading={loading} now={now} />
      <Totals rows={rows} statuses={statuses} />
      <RecentActivity statuses={statuses} now={now} />
    </div>
  )
}
