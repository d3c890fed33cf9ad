// Nodes (plan 5.6): every registered node, from the replica (live), with a
// kind filter (physical agents vs bridges).
import { Server } from 'lucide-react'
import { useMemo } from 'react'
import { Link, useSearchParams } from 'react-router-dom'
import { EmptyState, ErrorMessage, PageHeader } from '@/components/common'
import { HealthBadge } from '@/components/nodes/HealthBadge'
import { classifyNode, filesSeen, heartbeatText, nodeKind, type NodeKind } from '@/components/nodes/health'
import { selectClass } from '@/components/nodes/styles'
import { useNow } from '@/components/nodes/useNow'
import { Label } from '@/components/ui/label'
import { LoadingRows } from '@/components/ui/skeleton'
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table'
import { useNodes, useStatuses } from '@/lib/docs'
import { humanCount } from '@/lib/format'

type KindFilter = 'all' | NodeKind

export default function Nodes() {
  const nodes = useNodes()
  const statuses = useStatuses()
  const now = useNow(2000)
  const [params, setParams] = useSearchParams()
  const kind = (['physical', 'bridge'].includes(params.get('kind') ?? '') ? params.get('kind') : 'all') as KindFilter

  const rows = useMemo(() => {
    const byNode = new Map((statuses.data ?? []).map((s) => [s.node_id, s]))
    return (nodes.data ?? [])
      .map((node) => {
        const status = byNode.get(node.node_id)
        return { node, status, health: classifyNode(node, status, now), kind: nodeKind(node) }
      })
      .filter((r) => kind === 'all' || r.kind === kind)
      .sort((a, b) => (a.node.friendly_name || a.node.node_id).localeCompare(b.node.friendly_name || b.node.node_id))
  }, [nodes.data, statuses.data, now, kind])

  return (
    <div className="grid gap-4">
      <PageHeader
        title="Nodes"
        description="The machines (agents) and cloud bridges that make up your MosaicFS."
        actions={
          <div className="flex items-center gap-2">
            <Label htmlFor="kind-filter">Kind</Label>
            <select
              id="kind-filter"
              data-testid="kind-filter"
              className={selectClass}
              value={kind}
              onChange={(e) => {
                const v = e.target.value
                const next = new URLSearchParams(params)
                if (v === 'all') next.delete('kind')
                else next.set('kind', v)
                setParams(next, { replace: true })
              }}
            >
              <option value="all">All</option>
              <option value="physical">Physical agents</option>
              <option value="bridge">Bridges</option>
            </select>
          </div>
        }
      />
      {nodes.error && <ErrorMessage error={nodes.error} />}
      {nodes.isPending ? (
        <LoadingRows rows={4} label="Loading nodes" />
      ) : rows.length === 0 ? (
        <EmptyState title={kind === 'all' ? 'No nodes yet' : `No ${kind === 'bridge' ? 'bridge' : 'physical'} nodes`} icon={<Server className="size-8" />}>
          {kind === 'all' ? (
            <>
              Install the agent on a machine and run <code>mosaicfs-agent init</code> with a credential from Settings; it appears here once it registers.
            </>
          ) : (
            'Choose “All” in the kind filter to see every node.'
          )}
        </EmptyState>
      ) : (
        <div className="rounded-lg border bg-card">
          <Table data-testid="nodes-table">
            <THead>
              <TR>
                <TH scope="col">Name</TH>
                <TH scope="col">Kind</TH>
                <TH scope="col">Platform</TH>
                <TH scope="col">Status</TH>
                <TH scope="col">Last heartbeat</TH>
                <TH scope="col" className="text-right">
                  Files
                </TH>
              </TR>
            </THead>
            <TBody>
              {rows.map(({ node, status, health, kind }) => {
                const files = filesSeen(status)
                return (
                  <TR key={node.node_id} data-testid="node-row" data-node-id={node.node_id} data-status={health} data-kind={kind}>
                    <TD>
                      <Link to={`/nodes/${encodeURIComponent(node.node_id)}`} className="font-medium underline-offset-2 hover:underline focus-visible:outline-2 focus-visible:outline-ring">
                        {node.friendly_name || node.node_id}
                      </Link>
                      <div className="font-mono text-xs text-muted-foreground">{node.node_id}</div>
                    </TD>
                    <TD>{kind === 'bridge' ? 'Bridge' : 'Physical agent'}</TD>
                    <TD>{node.platform || '—'}</TD>
                    <TD>
                      <HealthBadge health={health} />
                    </TD>
                    <TD>
                      <time dateTime={node.last_heartbeat} title={node.last_heartbeat}>
                        {heartbeatText(node.last_heartbeat, now)}
                      </time>
                    </TD>
                    <TD className="text-right tabular-nums">{files == null ? '—' : humanCount(files)}</TD>
                  </TR>
                )
              })}
            </TBody>
          </Table>
        </div>
      )}
    </div>
  )
}
