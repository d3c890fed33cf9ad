// General and About tabs: server health and version, the replica's sync
// state, heartbeat settings, the replica's size, and "Reindex all nodes".
import { useMutation, useQuery } from '@tanstack/react-query'
import { ExternalLink, RefreshCw } from 'lucide-react'
import { useState, type ReactNode } from 'react'
import { ErrorMessage, NodeBadge } from '@/components/common'
import { BackupCard } from '@/components/settings/Backup'
import { useSyncStatus } from '@/components/layout/AppShell'
import { ConfirmDialog } from '@/components/nodes/ConfirmDialog'
import { HEARTBEAT_INTERVAL_SECS, STALE_AFTER_INTERVALS } from '@/components/nodes/health'
import { Button } from '@/components/ui/button'
import { Card, CardContent, CardDescription, CardHeader } from '@/components/ui/card'
import { Skeleton } from '@/components/ui/skeleton'
import { api } from '@/lib/api'
import { humanCount, humanDate, humanSize, relativeTime } from '@/lib/format'
import { replicaSize } from '@/lib/pouch'

interface Health {
  status: string
  couchdb: boolean
  version: string
  tls_fingerprint: string
}

function useHealth() {
  // /health answers 503 with the same body when CouchDB is down; api() turns
  // that into an error, which is shown in words.
  return useQuery({ queryKey: ['health'], queryFn: ({ signal }) => api<Health>('/health', { signal }), refetchInterval: 30_000 })
}

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt className="text-muted-foreground">{label}</dt>
      <dd className="min-w-0 break-words">{children}</dd>
    </>
  )
}

const SYNC_TEXT: Record<string, string> = {
  live: 'Live: up to date, following changes',
  syncing: 'Syncing changes…',
  connecting: 'Connecting…',
  offline: 'Offline, retrying',
  denied: 'Refused by the server',
  stopped: 'Stopped',
}

export function GeneralTab() {
  const health = useHealth()
  const sync = useSyncStatus()
  return (
    <div className="grid gap-4">
      <Card data-testid="instance-info">
        <CardHeader>
          <h2 className="text-sm font-semibold leading-none">Server</h2>
        </CardHeader>
        <CardContent>
          {health.isPending ? (
            <Skeleton className="h-16" />
          ) : health.error ? (
            <ErrorMessage error={health.error} />
          ) : (
            <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
              <Row label="Status">{health.data.status === 'ok' ? 'OK' : health.data.status}</Row>
              <Row label="Database">{health.data.couchdb ? 'CouchDB answering' : 'CouchDB not answering'}</Row>
              <Row label="Version">
                <span data-testid="server-version">{health.data.version}</span>
              </Row>
              <Row label="TLS fingerprint (SHA-256)">
                <code className="break-all font-mono text-xs" data-testid="tls-fingerprint">
                  {health.data.tls_fingerprint || '—'}
                </code>
              </Row>
            </dl>
          )}
        </CardContent>
      </Card>
      <Card data-testid="replica-sync">
        <CardHeader>
          <h2 className="text-sm font-semibold leading-none">Browser replica</h2>
          <CardDescription>This browser keeps a live copy of nodes, directories, labels, status and notifications, so pages open without waiting.</CardDescription>
        </CardHeader>
        <CardContent>
          <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
            <Row label="Sync">
              <span data-state={sync.state}>{SYNC_TEXT[sync.state] ?? sync.state}</span>
            </Row>
            <Row label="Received this session">{humanCount(sync.received)} documents</Row>
            <Row label="Last caught up">{sync.caughtUpAt ? relativeTime(new Date(sync.caughtUpAt).toISOString()) : 'not yet'}</Row>
            {sync.error && <Row label="Last error">{sync.error}</Row>}
          </dl>
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <h2 className="text-sm font-semibold leading-none">Heartbeats</h2>
          <CardDescription>Read-only: each agent sets its own interval (heartbeat_interval_secs in its agent.toml).</CardDescription>
        </CardHeader>
        <CardContent>
          <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
            <Row label="Interval (agent default)">{HEARTBEAT_INTERVAL_SECS} s</Row>
            <Row label="Shown stale after">
              {STALE_AFTER_INTERVALS * HEARTBEAT_INTERVAL_SECS} s without a heartbeat ({STALE_AFTER_INTERVALS} intervals)
            </Row>
          </dl>
        </CardContent>
      </Card>
    </div>
  )
}

interface Reindex {
  requested_at: string
  nodes_notified: string[]
}

export function AboutTab() {
  const health = useHealth()
  const size = useQuery({ queryKey: ['pouch', 'replica-size'], queryFn: replicaSize, staleTime: 10_000 })
  const [confirm, setConfirm] = useState(false)
  const reindex = useMutation({
    mutationFn: () => api<Reindex>('/api/system/reindex', { method: 'POST' }),
    onSuccess: () => setConfirm(false),
  })
  return (
    <div className="grid gap-4">
      <Card>
        <CardHeader>
          <h2 className="text-sm font-semibold leading-none">MosaicFS</h2>
          <CardDescription>Your files from every machine, in one namespace.</CardDescription>
        </CardHeader>
        <CardContent className="grid gap-3 text-sm">
          <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1">
            <Row label="Server version">{health.isPending ? <Skeleton className="h-4 w-16" /> : health.data?.version ?? '—'}</Row>
            <Row label="Web UI version">0.1.0</Row>
          </dl>
          <ul className="grid gap-1">
            <li>
              <a href="/api/openapi.json" target="_blank" rel="noreferrer" className="inline-flex items-center gap-1 text-primary underline-offset-2 hover:underline">
                REST API description (OpenAPI) <ExternalLink className="size-3" aria-hidden="true" />
                <span className="sr-only">(opens in a new tab)</span>
              </a>
            </li>
            <li className="text-muted-foreground">
              Design and operations: <code className="font-mono text-xs">docs/architecture.md</code> in the MosaicFS source tree.
            </li>
          </ul>
        </CardContent>
      </Card>
      <Card data-testid="replica-size">
        <CardHeader>
          <h2 className="text-sm font-semibold leading-none">Replica size</h2>
          <CardDescription>What this browser stores for MosaicFS (the replica in IndexedDB, and anything else the site keeps).</CardDescription>
        </CardHeader>
        <CardContent className="flex flex-wrap items-center gap-4 text-sm">
          {size.isPending ? (
            <Skeleton className="h-5 w-48" />
          ) : size.error ? (
            <ErrorMessage error={size.error} />
          ) : (
            <span>
              <strong data-testid="replica-docs">{humanCount(size.data.docs)}</strong> documents,{' '}
              <strong data-testid="replica-bytes">{size.data.usage == null ? 'size unknown (the browser does not say)' : humanSize(size.data.usage)}</strong>
            </span>
          )}
          <Button size="sm" variant="outline" onClick={() => size.refetch()} disabled={size.isFetching}>
            <RefreshCw aria-hidden="true" /> Refresh
          </Button>
        </CardContent>
      </Card>
      <Card data-testid="reindex">
        <CardHeader>
          <h2 className="text-sm font-semibold leading-none">Reindex all nodes</h2>
          <CardDescription>Asks every node's agent to crawl all its watch paths again. Use it if files seem missing or stale; large trees take a while.</CardDescription>
        </CardHeader>
        <CardContent className="grid gap-3">
          <div>
            <Button
              variant="outline"
              onClick={() => {
                reindex.reset()
                setConfirm(true)
              }}
              data-testid="reindex-button"
            >
              <RefreshCw aria-hidden="true" /> Reindex all nodes
            </Button>
          </div>
          {reindex.data && (
            <div role="status" className="grid gap-2 text-sm" data-testid="reindex-result" data-nodes-notified={reindex.data.nodes_notified.length}>
              <p>
                Asked {reindex.data.nodes_notified.length} node{reindex.data.nodes_notified.length === 1 ? '' : 's'} to reindex ({humanDate(reindex.data.requested_at)}). Each runs a full crawl when it next syncs.
              </p>
              <div className="flex flex-wrap gap-1">
                {reindex.data.nodes_notified.map((id) => (
                  <NodeBadge key={id} nodeId={id} />
                ))}
              </div>
            </div>
          )}
        </CardContent>
      </Card>
      <BackupCard />
      <ConfirmDialog
        open={confirm}
        onOpenChange={setConfirm}
        title="Reindex every node?"
        description="Every agent runs a full crawl of its watch paths. Nothing is deleted, but it costs disk reads and time on large trees."
        confirmLabel="Reindex all nodes"
        busy={reindex.isPending}
        error={reindex.error}
        onConfirm={() => reindex.mutate()}
        testid="reindex-confirm"
      />
    </div>
  )
}
