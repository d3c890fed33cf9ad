// One node (plan 5.6): status and subsystems, storage topology, utilization
// trend, watch paths, network mounts, recent errors; a bridge card for
// bridge nodes; rename through PATCH /api/nodes/{id}. The node and status
// documents come from the replica, so the page moves live.
import { useMutation } from '@tanstack/react-query'
import { ArrowLeft, Cloud, Pencil } from 'lucide-react'
import { useMemo, useState, type FormEvent } from 'react'
import { Link, useParams } from 'react-router-dom'
import { EmptyState, ErrorMessage, UsageBar } from '@/components/common'
import { HealthBadge } from '@/components/nodes/HealthBadge'
import { classifyNode, filesSeen, heartbeatText, HEARTBEAT_INTERVAL_SECS, nodeKind, STALE_AFTER_INTERVALS } from '@/components/nodes/health'
import { NetworkMounts } from '@/components/nodes/NetworkMounts'
import { useNow } from '@/components/nodes/useNow'
import { DateRangePicker } from '@/components/storage/DateRangePicker'
import { formatDay, resolveRange, type DateRange } from '@/components/storage/history'
import { PercentText } from '@/components/storage/StorageTable'
import { UtilizationChart } from '@/components/storage/UtilizationChart'
import { Badge } from '@/components/ui/badge'
import { Button } from '@/components/ui/button'
import { Card, CardContent, CardDescription, CardHeader } from '@/components/ui/card'
import { Input } from '@/components/ui/input'
import { Label } from '@/components/ui/label'
import { LoadingRows } from '@/components/ui/skeleton'
import { api, ApiError } from '@/lib/api'
import { useNodes, useStatuses, type NodeDoc, type StatusDoc } from '@/lib/docs'
import { humanCount, humanDate, humanSize, relativeTime } from '@/lib/format'
import { cn } from '@/lib/utils'

function SectionTitle({ children }: { children: string }) {
  return <h2 className="text-sm font-semibold leading-none">{children}</h2>
}

function Rename({ node }: { node: NodeDoc }) {
  const [editing, setEditing] = useState(false)
  const [name, setName] = useState(node.friendly_name)
  const save = useMutation({
    mutationFn: (friendly_name: string) => api<NodeDoc>(`/api/nodes/${encodeURIComponent(node.node_id)}`, { method: 'PATCH', body: { friendly_name } }),
    // The replica brings the new name back by itself.
    onSuccess: () => setEditing(false),
  })
  if (!editing)
    return (
      <div className="flex flex-wrap items-center gap-2">
        <h1 className="text-xl font-semibold tracking-tight" data-testid="node-name">
          {node.friendly_name || node.node_id}
        </h1>
        <Button
          variant="ghost"
          size="sm"
          onClick={() => {
            setName(node.friendly_name)
            save.reset()
            setEditing(true)
          }}
          data-testid="node-rename"
        >
          <Pencil aria-hidden="true" /> Rename
        </Button>
      </div>
    )
  const fieldError = save.error instanceof ApiError && save.error.field === 'friendly_name' ? save.error.detail : null
  const localError = name.trim() === '' ? 'Enter a name.' : null
  function submit(e: FormEvent) {
    e.preventDefault()
    if (!localError) save.mutate(name.trim())
  }
  return (
    <form onSubmit={submit} className="grid gap-1.5" aria-label="Rename node">
      <h1 className="sr-only">{node.friendly_name || node.node_id}</h1>
      <Label htmlFor="node-friendly-name">Display name</Label>
      <div className="flex flex-wrap gap-2">
        <Input
          id="node-friendly-name"
          className="w-72"
          value={name}
          maxLength={100}
          autoFocus
          onChange={(e) => setName(e.target.value)}
          onKeyDown={(e) => e.key === 'Escape' && setEditing(false)}
          aria-invalid={fieldError ? true : undefined}
          aria-describedby={fieldError ? 'node-friendly-name-error' : undefined}
        />
        <Button type="submit" disabled={save.isPending || !!localError}>
          {save.isPending ? 'Saving…' : 'Save'}
        </Button>
        <Button type="button" variant="outline" onClick={() => setEditing(false)}>
          Cancel
        </Button>
      </div>
      {fieldError && (
        <p id="node-friendly-name-error" role="alert" className="text-xs font-medium text-destructive">
          {fieldError}
        </p>
      )}
      {save.error && !fieldError && <ErrorMessage error={save.error} />}
    </form>
  )
}

const SUB_TONE: Record<string, string> = {
  ok: 'border-success/50 text-success',
  idle: 'text-muted-foreground',
  degraded: 'border-warning/50 text-warning',
  error: 'border-destructive/50 text-destructive',
}

function figures(sub: Record<string, unknown>): [string, string][] {
  return Object.entries(sub)
    .filter(([k, v]) => k !== 'status' && k !== 'detail' && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean'))
    .map(([k, v]) => [k.replace(/_/g, ' '), typeof v === 'number' ? humanCount(v) : /_at$/.test(k) && typeof v === 'string' ? relativeTime(v) : String(v)])
}

function StatusCard({ node, status, now }: { node: NodeDoc; status: StatusDoc | undefined; now: number }) {
  const health = classifyNode(node, status, now)
  const files = filesSeen(status)
  return (
    <Card>
      <CardHeader>
        <SectionTitle>Status</SectionTitle>
      </CardHeader>
      <CardContent className="grid gap-4">
        <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm sm:grid-cols-[auto_1fr_auto_1fr]">
          <dt className="text-muted-foreground">Status</dt>
          <dd data-testid="node-health" data-status={health}>
            <HealthBadge health={health} />
          </dd>
          <dt className="text-muted-foreground">Last heartbeat</dt>
          <dd title={`${humanDate(node.last_heartbeat)}; shown stale after ${STALE_AFTER_INTERVALS * HEARTBEAT_INTERVAL_SECS} s`}>{heartbeatText(node.last_heartbeat, now)}</dd>
          <dt className="text-muted-foreground">Agent health</dt>
          <dd>{status ? status.overall : 'not reported yet'}</dd>
          <dt className="text-muted-foreground">Kind</dt>
          <dd>{nodeKind(node) === 'bridge' ? 'Bridge' : 'Physical agent'}</dd>
          <dt className="text-muted-foreground">Platform</dt>
          <dd>{node.platform || '—'}</dd>
          <dt className="text-muted-foreground">Agent version</dt>
          <dd>{node.agent_version ?? '—'}</dd>
          <dt className="text-muted-foreground">Registered</dt>
          <dd>{humanDate(node.registered_at)}</dd>
          <dt className="text-muted-foreground">Files</dt>
          <dd>{files == null ? '—' : humanCount(files)}</dd>
          <dt className="text-muted-foreground">Transfer endpoint</dt>
          <dd className="break-all font-mono text-xs">{node.transfer?.endpoint ?? 'none'}</dd>
          <dt className="text-muted-foreground">VFS</dt>
          <dd>{node.vfs_capable ? 'capable' : 'no'}</dd>
          <dt className="text-muted-foreground">Node id</dt>
          <dd className="break-all font-mono text-xs">{node.node_id}</dd>
          {status && (
            <>
              <dt className="text-muted-foreground">Status reported</dt>
              <dd>{relativeTime(status.updated_at, now)}</dd>
            </>
          )}
        </dl>
        {status && Object.keys(status.subsystems ?? {}).length > 0 && (
          <div className="grid gap-2" data-testid="subsystems">
            <h3 className="text-xs font-semibold uppercase tracking-wide text-muted-foreground">Subsystems</h3>
            <div className="grid gap-2 md:grid-cols-3">
              {Object.entries(status.subsystems).map(([name, sub]) => (
                <div key={name} className="rounded-md border p-3 text-sm" data-testid="subsystem" data-subsystem={name} data-status={sub.status}>
                  <div className="flex items-center justify-between gap-2">
                    <span className="font-medium capitalize">{name}</span>
                    <Badge variant="outline" className={cn('bg-transparent', SUB_TONE[sub.status] ?? '')}>
                      {sub.status}
                    </Badge>
                  </div>
                  {sub.detail && <p className="mt-1 break-words text-xs text-muted-foreground">{sub.detail}</p>}
                  <dl className="mt-2 grid grid-cols-[1fr_auto] gap-x-3 text-xs">
                    {figures(sub as Record<string, unknown>).map(([k, v]) => (
                      <div key={k} className="contents">
                        <dt className="text-muted-foreground">{k}</dt>
                        <dd className="text-right tabular-nums">{v}</dd>
                      </div>
                    ))}
                  </dl>
                </div>
              ))}
            </div>
          </div>
        )}
      </CardContent>
    </Card>
  )
}

function Topology({ node }: { node: NodeDoc }) {
  const storage = node.storage ?? []
  const watch = node.watch_paths ?? []
  const placed = new Set(storage.flatMap((s) => s.watch_paths_on_fs ?? []))
  const unplaced = watch.filter((w) => !placed.has(w))
  return (
    <Card data-testid="storage-topology">
      <CardHeader>
        <SectionTitle>Storage and watch paths</SectionTitle>
        <CardDescription>The filesystems holding this node's watch paths, reported by the agent at start and every hour.</CardDescription>
      </CardHeader>
      <CardContent className="grid gap-3">
        {storage.length === 0 ? (
          <EmptyState title="No filesystems reported">The agent reports them once its watch paths exist; check the watch_paths in its agent.toml.</EmptyState>
        ) : (
          <ul className="grid gap-3 md:grid-cols-2">
            {storage.map((s) => (
              <li key={s.filesystem_id} className="grid gap-2 rounded-md border p-3 text-sm" data-testid="filesystem" data-filesystem-id={s.filesystem_id}>
                <div className="flex flex-wrap items-baseline justify-between gap-2">
                  <span className="font-mono font-medium">{s.mount_point}</span>
                  <span className="text-xs text-muted-foreground">
                    {s.fs_type}
                    {s.device ? ` · ${s.device}` : ''}
                  </span>
                </div>
                <UsageBar used={s.used_bytes} total={s.capacity_bytes} label={`${s.mount_point}: used space`} />
                <div className="flex justify-between text-xs">
                  <span>
                    {humanSize(s.used_bytes)} of {humanSize(s.capacity_bytes)}
                  </span>
                  <PercentText used={s.used_bytes} total={s.capacity_bytes} />
                </div>
                <div>
                  <p className="text-xs text-muted-foreground">Watch paths on it</p>
                  {(s.watch_paths_on_fs ?? []).length === 0 ? (
                    <p className="text-xs">none</p>
                  ) : (
                    <ul className="font-mono text-xs">
                      {(s.watch_paths_on_fs ?? []).map((w) => (
                        <li key={w}>{w}</li>
                      ))}
                    </ul>
                  )}
                </div>
              </li>
            ))}
          </ul>
        )}
        <div data-testid="watch-paths">
          <h3 className="text-xs font-semibold uppercase tracking-wide text-muted-foreground">Watch paths</h3>
          {watch.length === 0 ? (
            <p className="text-sm text-muted-foreground">None: set watch_paths in the agent's agent.toml (the agent owns them; they cannot be changed here).</p>
          ) : (
            <ul className="mt-1 grid gap-0.5 font-mono text-xs">
              {watch.map((w) => (
                <li key={w}>
                  {w}
                  {unplaced.includes(w) && storage.length > 0 && <span className="ml-2 font-sans text-muted-foreground">(no filesystem reported)</span>}
                </li>
              ))}
            </ul>
          )}
        </div>
      </CardContent>
    </Card>
  )
}

function Trend({ node }: { node: NodeDoc }) {
  const [today] = useState(() => formatDay(Date.now()))
  const [range, setRange] = useState<DateRange>({ preset: '7d', from: formatDay(Date.now() - 7 * 86_400_000), to: today })
  const resolved = useMemo(() => resolveRange(range, Date.now()), [range])
  return (
    <Card>
      <CardHeader className="flex-row flex-wrap items-start justify-between gap-2">
        <SectionTitle>Utilization trend</SectionTitle>
        <DateRangePicker value={range} onChange={setRange} error={'error' in resolved ? resolved.error : null} max={today} />
      </CardHeader>
      <CardContent>{'error' in resolved ? null : <UtilizationChart nodeId={node.node_id} nodeName={node.friendly_name || node.node_id} range={resolved} />}</CardContent>
    </Card>
  )
}

function RecentErrors({ status, now }: { status: StatusDoc | undefined; now: number }) {
  const errors = [...(status?.recent_errors ?? [])].reverse()
  return (
    <Card data-testid="recent-errors">
      <CardHeader>
        <SectionTitle>Recent errors</SectionTitle>
        <CardDescription>The agent's last 50 warnings and errors, newest first.</CardDescription>
      </CardHeader>
      <CardContent>
        {errors.length === 0 ? (
          <p className="text-sm text-muted-foreground">{status ? 'No recent errors.' : 'The agent has not reported a status yet.'}</p>
        ) : (
          <ul className="grid max-h-96 gap-2 overflow-y-auto">
            {errors.map((e, i) => (
              <li key={`${e.time}-${i}`} className="rounded-md border p-2 text-sm" data-testid="recent-error">
                <div className="flex flex-wrap items-center justify-between gap-2">
                  <span className={cn('font-medium', e.level === 'error' ? 'text-destructive' : 'text-warning')}>
                    {e.subsystem} · {e.level}
                  </span>
                  <time dateTime={e.time} title={humanDate(e.time)} className="text-xs text-muted-foreground">
                    {relativeTime(e.time, now)}
                  </time>
                </div>
                <p className="break-words text-xs">{e.message}</p>
              </li>
            ))}
          </ul>
        )}
      </CardContent>
    </Card>
  )
}

function BridgeCard({ node }: { node: NodeDoc }) {
  return (
    <Card data-testid="bridge-card">
      <CardHeader>
        <div className="flex items-center gap-2">
          <Cloud className="size-4" aria-hidden="true" />
          <SectionTitle>Bridge</SectionTitle>
        </div>
        <CardDescription>This node bridges a cloud or remote service into MosaicFS.</CardDescription>
      </CardHeader>
      <CardContent className="grid gap-2 text-sm">
        {(node.storage ?? []).length === 0 ? (
          <p className="text-muted-foreground">No storage reported yet.</p>
        ) : (
          (node.storage ?? []).map((s) => (
            <div key={s.filesystem_id} className="grid gap-1">
              <span className="font-mono text-xs">{s.mount_point}</span>
              <UsageBar used={s.used_bytes} total={s.capacity_bytes} label={`${s.mount_point}: used space`} />
              <span className="text-xs">
                {humanSize(s.used_bytes)} of {humanSize(s.capacity_bytes)}
              </span>
            </div>
          ))
        )}
        <p className="text-muted-foreground">Sync controls arrive with the bridge work.</p>
      </CardContent>
    </Card>
  )
}

export default function NodeDetail() {
  const { nodeId = '' } = useParams()
  const nodes = useNodes()
  const statuses = useStatuses()
  const now = useNow(2000)
  const node = nodes.data?.find((n) => n.node_id === nodeId)
  const status = statuses.data?.find((s) => s.node_id === nodeId)

  const back = (
    <Link to="/nodes" className="inline-flex items-center gap-1 text-sm text-muted-foreground hover:text-foreground">
      <ArrowLeft className="size-4" aria-hidden="true" /> All nodes
    </Link>
  )
  if (nodes.isPending) return <LoadingRows rows={6} label="Loading node" />
  if (nodes.error) return <ErrorMessage error={nodes.error} />
  if (!node)
    return (
      <div className="grid gap-4">
        {back}
        <h1 className="text-xl font-semibold">Node not found</h1>
        <EmptyState title={`No node ${nodeId} is registered`}>It may have been removed, or the link is wrong. Go back to the node list to pick one.</EmptyState>
      </div>
    )
  return (
    <div className="grid gap-4" data-testid="node-detail" data-node-id={node.node_id}>
      {back}
      <div className="flex flex-wrap items-center justify-between gap-2">
        <Rename key={node.node_id} node={node} />
        {node.disabled && <Badge variant="secondary">Disabled</Badge>}
      </div>
      <StatusCard node={node} status={status} now={now} />
      {nodeKind(node) === 'bridge' && <BridgeCard node={node} />}
      <Topology node={node} />
      <Trend node={node} />
      <NetworkMounts nodeId={node.node_id} nodes={nodes.data ?? []} />
      <RecentErrors status={status} now={now} />
    </div>
  )
}
