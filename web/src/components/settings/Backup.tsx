// Backup and restore (plan 8.4), in Settings → About: download a minimal or
// full backup (fetched with the session token, then saved through an object
// URL, since a plain link would not carry it), and restore a backup file,
// offered only while the server's database is empty. After a restore a
// banner asks to restart every agent.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Download, Upload } from 'lucide-react'
import { useRef, useState } from 'react'
import { ErrorMessage } from '@/components/common'
import { Button } from '@/components/ui/button'
import { Card, CardContent, CardDescription, CardHeader } from '@/components/ui/card'
import { Skeleton } from '@/components/ui/skeleton'
import { api, ApiError, getToken } from '@/lib/api'
import { humanCount } from '@/lib/format'

interface Readiness {
  empty: boolean
  first_document: string | null
}

interface RestoreResult {
  restored_count: number
  errors: { id: string; error: string; message: string }[]
}

async function download(kind: 'minimal' | 'full'): Promise<void> {
  const token = getToken()
  const res = await fetch(`/api/system/backup?type=${kind}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} })
  if (!res.ok) {
    const b = (await res.json().catch(() => ({}))) as { error?: string; message?: string }
    throw new ApiError(res.status, b.error ?? `http_${res.status}`, b.message ?? res.statusText)
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? `mosaicfs-backup-${kind}.json`
  const blob = await res.blob()
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

async function restore(file: File): Promise<RestoreResult> {
  const token = getToken()
  const res = await fetch('/api/system/restore', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: file,
  })
  const b = (await res.json().catch(() => ({}))) as RestoreResult & { error?: string; message?: string }
  if (!res.ok) throw new ApiError(res.status, b.error ?? `http_${res.status}`, b.message ?? res.statusText)
  return b
}

export function BackupCard() {
  const qc = useQueryClient()
  const readiness = useQuery({ queryKey: ['restore-readiness'], queryFn: ({ signal }) => api<Readiness>('/api/system/restore', { signal }) })
  const backup = useMutation({ mutationFn: download })
  const file = useRef<HTMLInputElement>(null)
  const [chosen, setChosen] = useState<File | null>(null)
  const restoring = useMutation({
    mutationFn: restore,
    onSettled: () => qc.invalidateQueries({ queryKey: ['restore-readiness'] }),
  })
  return (
    <Card data-testid="backup">
      <CardHeader>
        <h2 className="text-sm font-semibold leading-none">Backup and restore</h2>
        <CardDescription>
          Minimal: what only the control plane holds (directories, labels, plugin settings with secrets removed, credentials, network mounts); agents bring back their files when they reconnect. Full: every document, secrets included. Both files hold credential keys: keep them safe.
        </CardDescription>
      </CardHeader>
      <CardContent className="grid gap-4 text-sm">
        <div className="flex flex-wrap gap-2">
          <Button variant="outline" onClick={() => backup.mutate('minimal')} disabled={backup.isPending} data-testid="backup-minimal">
            <Download aria-hidden="true" /> Download minimal backup
          </Button>
          <Button variant="outline" onClick={() => backup.mutate('full')} disabled={backup.isPending} data-testid="backup-full">
            <Download aria-hidden="true" /> Download full backup
          </Button>
        </div>
        {backup.error && <ErrorMessage error={backup.error} />}
        {restoring.data && (
          <div role="status" className="rounded border border-amber-300 bg-amber-50 p-3 text-amber-900 dark:bg-amber-950 dark:text-amber-200" data-testid="restore-banner">
            <p className="font-medium">
              Restored {humanCount(restoring.data.restored_count)} documents. Restart all agents so that they reconnect and crawl again.
            </p>
            {restoring.data.errors.length > 0 && (
              <ul className="mt-2 list-disc pl-5 text-xs">
                {restoring.data.errors.map((e) => (
                  <li key={e.id + e.message}>
                    <code className="font-mono">{e.id}</code>: {e.message}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
        {readiness.isPending ? (
          <Skeleton className="h-10" />
        ) : readiness.error ? (
          <ErrorMessage error={readiness.error} />
        ) : readiness.data.empty ? (
          <div className="grid gap-2" data-testid="restore-section">
            <p>The database is empty: a backup can be restored into it.</p>
            <div className="flex flex-wrap items-center gap-2">
              <input
                ref={file}
                type="file"
                accept="application/json,.json"
                aria-label="Backup file"
                data-testid="restore-file"
                onChange={(e) => setChosen(e.target.files?.[0] ?? null)}
              />
              <Button onClick={() => chosen && restoring.mutate(chosen)} disabled={!chosen || restoring.isPending} data-testid="restore-button">
                <Upload aria-hidden="true" /> {restoring.isPending ? 'Restoring…' : 'Restore'}
              </Button>
            </div>
            {restoring.error && <ErrorMessage error={restoring.error} />}
          </div>
        ) : (
          <p className="text-muted-foreground" data-testid="restore-unavailable">
            Restore is offered only on an empty database (a new control plane before its agents connect). This one holds documents (for example <code className="font-mono text-xs">{readiness.data.first_document}</code>).
          </p>
        )}
      </CardContent>
    </Card>
  )
}
