// A node's filesystem usage over time (recharts). Import this only from lazily
// loaded pages: recharts must stay out of the first page's bundle.
import { useQuery } from '@tanstack/react-query'
import { useMemo } from 'react'
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts'
import { EmptyState, ErrorMessage } from '@/components/common'
import { Skeleton } from '@/components/ui/skeleton'
import { api } from '@/lib/api'
import { humanDate, humanSize } from '@/lib/format'
import { shapeHistory, type ResolvedRange } from './history'
import type { StorageHistory } from './types'

const COLORS = ['#6366f1', '#0891b2', '#059669', '#d97706', '#e11d48', '#8b5cf6', '#0d9488', '#c026d3']

/** The history query, shared by the chart and anything else showing it. */
export function useStorageHistory(nodeId: string, days: number) {
  return useQuery({
    queryKey: ['storage-history', nodeId, days],
    queryFn: ({ signal }) => api<StorageHistory>(`/api/storage/${encodeURIComponent(nodeId)}/history`, { query: { days }, signal }),
    staleTime: 60_000,
  })
}

function shortDate(ms: number, spanMs: number): string {
  const d = new Date(ms)
  if (spanMs <= 2 * 86_400_000) return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
  return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
}

export function UtilizationChart({ nodeId, nodeName, range, testid = 'utilization-chart' }: { nodeId: string; nodeName: string; range: ResolvedRange; testid?: string }) {
  const q = useStorageHistory(nodeId, range.days)
  const shaped = useMemo(() => shapeHistory(q.data?.snapshots ?? [], range.fromMs, range.toMs), [q.data, range.fromMs, range.toMs])
  if (q.isPending) return <Skeleton className="h-56 w-full" data-testid={`${testid}-loading`} />
  if (q.error) return <ErrorMessage error={q.error} />
  const { points, series } = shaped
  if (points.length === 0)
    return (
      <div data-testid={testid} data-points={0}>
        <EmptyState title="No utilization history in this range">
          The agent writes a snapshot of its filesystems every hour; choose a longer range or come back later.
        </EmptyState>
      </div>
    )
  const span = points[points.length - 1].t - points[0].t
  const last = points[points.length - 1]
  const summary = `Used space on ${nodeName} from ${humanDate(new Date(points[0].t).toISOString())} to ${humanDate(new Date(last.t).toISOString())}: ${series
    .map((s) => `${s.name} ${humanSize(last[s.key])}`)
    .join(', ')} at the latest snapshot (${points.length} snapshot${points.length === 1 ? '' : 's'}).`
  return (
    <figure data-testid={testid} data-points={points.length} className="grid gap-1">
      <div role="img" aria-label={summary} className="h-56 w-full">
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={points} margin={{ top: 8, right: 16, bottom: 0, left: 8 }} accessibilityLayer={false}>
            <CartesianGrid strokeDasharray="3 3" stroke="currentColor" strokeOpacity={0.15} />
            <XAxis
              dataKey="t"
              type="number"
              scale="time"
              domain={['dataMin', 'dataMax']}
              tickFormatter={(v: number) => shortDate(v, span)}
              stroke="currentColor"
              fontSize={11}
            />
            <YAxis tickFormatter={(v: number) => humanSize(v)} width={72} stroke="currentColor" fontSize={11} />
            <Tooltip
              labelFormatter={(v) => humanDate(new Date(Number(v)).toISOString())}
              formatter={(v, name) => [humanSize(Number(v)), name]}
              contentStyle={{ background: 'var(--popover)', color: 'var(--popover-foreground)', border: '1px solid var(--border)', fontSize: 12 }}
            />
            <Legend wrapperStyle={{ fontSize: 12 }} />
            {series.map((s, i) => (
              <Line
                key={s.key}
                dataKey={s.key}
                name={s.name}
                stroke={COLORS[i % COLORS.length]}
                strokeWidth={2}
                dot={points.length < 3}
                isAnimationActive={false}
                connectNulls
              />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </div>
      <figcaption className="text-xs text-muted-foreground">{summary}</figcaption>
    </figure>
  )
}
