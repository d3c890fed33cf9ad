// Per node, per filesystem utilization, coloured by how full it is.
import { Link } from 'react-router-dom'
import { UsageBar } from '@/components/common'
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table'
import { humanSize, percent } from '@/lib/format'
import { cn } from '@/lib/utils'
import { usageLevel } from './history'
import type { NodeStorage } from './types'

const LEVEL_TEXT = { ok: 'text-success', warn: 'text-warning', full: 'text-destructive', unknown: 'text-muted-foreground' } as const

export function PercentText({ used, total }: { used: number; total: number }) {
  const p = percent(used, total)
  const level = usageLevel(p)
  return (
    <span className={cn('tabular-nums text-xs font-medium', LEVEL_TEXT[level])} data-level={level}>
      {p == null ? 'unknown' : `${p.toFixed(p < 10 ? 1 : 0)} %`}
      {level === 'full' ? ' (nearly full)' : level === 'warn' ? ' (filling up)' : ''}
    </span>
  )
}

export function StorageTable({ nodes, showNode = true }: { nodes: NodeStorage[]; showNode?: boolean }) {
  const rows = nodes.flatMap((n) => (n.storage ?? []).map((s) => ({ n, s })))
  return (
    <Table data-testid="storage-table">
      <THead>
        <TR>
          {showNode && <TH scope="col">Node</TH>}
          <TH scope="col">Mount point</TH>
          <TH scope="col">Type</TH>
          <TH scope="col">Device</TH>
          <TH scope="col" className="w-56">
            Used
          </TH>
          <TH scope="col" className="text-right">
            Capacity
          </TH>
          <TH scope="col">Watch paths</TH>
        </TR>
      </THead>
      <TBody>
        {rows.map(({ n, s }) => (
          <TR key={`${n.node_id}/${s.filesystem_id}`} data-testid="storage-row" data-node-id={n.node_id} data-filesystem-id={s.filesystem_id}>
            {showNode && (
              <TD>
                <Link to={`/nodes/${encodeURIComponent(n.node_id)}`} className="font-medium underline-offset-2 hover:underline">
                  {n.friendly_name || n.node_id}
                </Link>
              </TD>
            )}
            <TD className="font-mono text-xs">{s.mount_point}</TD>
            <TD>{s.fs_type}</TD>
            <TD className="font-mono text-xs">{s.device ?? '—'}</TD>
            <TD>
              <div className="grid gap-1">
                <UsageBar used={s.used_bytes} total={s.capacity_bytes} label={`${s.mount_point} on ${n.friendly_name || n.node_id}: used space`} />
                <div className="flex justify-between gap-2 text-xs">
                  <span>{humanSize(s.used_bytes)}</span>
                  <PercentText used={s.used_bytes} total={s.capacity_bytes} />
                </div>
              </div>
            </TD>
            <TD className="text-right tabular-nums">{humanSize(s.capacity_bytes)}</TD>
            <TD className="font-mono text-xs">{(s.watch_paths_on_fs ?? []).join(', ') || '—'}</TD>
          </TR>
        ))}
      </TBody>
    </Table>
  )
}
