// Storage (plan 5.11): every node's filesystems from GET /api/storage, and a
// usage trend per node from GET /api/storage/{id}/history over a chosen range.
import { useQuery } from '@tanstack/react-query'
import { HardDrive } from 'lucide-react'
import { useMemo, useState } from 'react'
import { EmptyState, ErrorMessage, PageHeader } from '@/components/common'
import { DateRangePicker } from '@/components/storage/DateRangePicker'
import { formatDay, resolveRange, type DateRange } from '@/components/storage/history'
import { StorageTable } from '@/components/storage/StorageTable'
import type { StorageOverview } from '@/components/storage/types'
import { UtilizationChart } from '@/components/storage/UtilizationChart'
import { Card, CardContent, CardDescription, CardHeader } from '@/components/ui/card'
import { LoadingRows } from '@/components/ui/skeleton'
import { api } from '@/lib/api'
import { humanSize } from '@/lib/format'

export default function Storage() {
  const storage = useQuery({ queryKey: ['storage'], queryFn: ({ signal }) => api<StorageOverview>('/api/storage', { signal }) })
  const [today] = useState(() => formatDay(Date.now()))
  const [range, setRange] = useState<DateRange>({ preset: '30d', from: formatDay(Date.now() - 14 * 86_400_000), to: today })
  // Resolved once per range change (not per render) so the query key is stable.
  const resolved = useMemo(() => resolveRange(range, Date.now()), [range])
  const nodes = storage.data?.nodes ?? []
  const withStorage = nodes.filter((n) => (n.storage ?? []).length > 0)

  return (
    <div className="grid gap-6">
      <PageHeader title="Storage" description="How full each node's disks are, and how that changes over time." />
      <section aria-labelledby="util-title" className="grid gap-2">
        <h2 id="util-title" className="text-sm font-semibold">
          Utilization
        </h2>
        {storage.isPending ? (
          <LoadingRows rows={3} label="Loading storage" />
        ) : storage.error ? (
          <ErrorMessage error={storage.error} />
        ) : withStorage.length === 0 ? (
          <EmptyState title="No storage reported yet" icon={<HardDrive className="size-8" />}>
            Agents report the filesystems holding their watch paths when they start and every hour. Start an agent, or check that its watch paths exist.
          </EmptyState>
        ) : (
          <Card>
            <CardContent className="p-0">
              <StorageTable nodes={withStorage} />
            </CardContent>
          </Card>
        )}
      </section>

      <section aria-labelledby="trend-title" className="grid gap-3">
        <div className="flex flex-wrap items-end justify-between gap-3">
          <h2 id="trend-title" className="text-sm font-semibold">
            Trends
          </h2>
          <DateRangePicker value={range} onChange={setRange} error={'error' in resolved ? resolved.error : null} max={today} />
        </div>
        {!storage.isPending && !storage.error && nodes.length === 0 && (
          <EmptyState title="No nodes yet">Register a node with <code>mosaicfs-agent init</code> to see its history here.</EmptyState>
        )}
        {'error' in resolved
          ? null
          : nodes.map((n) => {
              const used = (n.storage ?? []).reduce((a, s) => a + s.used_bytes, 0)
              const cap = (n.storage ?? []).reduce((a, s) => a + s.capacity_bytes, 0)
              const name = n.friendly_name || n.node_id
              return (
                <Card key={n.node_id} data-testid="storage-chart" data-node-id={n.node_id}>
                  <CardHeader>
                    <h3 className="text-sm font-semibold leading-none">{name}</h3>
                    <CardDescription>
                      {cap > 0 ? `${humanSize(used)} used of ${humanSize(cap)} now` : 'No filesystems reported'}
                    </CardDescription>
                  </CardHeader>
                  <CardContent>
                    <UtilizationChart nodeId={n.node_id} nodeName={name} range={resolved} testid="storage-chart-plot" />
                  </CardContent>
                </Card>
              )
            })}
      </section>
    </div>
  )
}
