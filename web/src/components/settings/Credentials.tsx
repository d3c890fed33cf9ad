// Access credentials (plan 5.12): list, create (the secret shown once),
// enable/disable, delete. The credential the user is logged in with is marked,
// and changing it asks first (the server refuses both with 409).
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Check, Copy, KeyRound, Trash2 } from 'lucide-react'
import { useState, type FormEvent } from 'react'
import { EmptyState, ErrorMessage } from '@/components/common'
import { ConfirmDialog } from '@/components/nodes/ConfirmDialog'
import { Badge } from '@/components/ui/badge'
import { Button } from '@/components/ui/button'
import { Card, CardContent, CardDescription, CardHeader } from '@/components/ui/card'
import { Input } from '@/components/ui/input'
import { Field } from '@/components/ui/label'
import { Dialog, DialogClose, DialogContent } from '@/components/ui/sheet'
import { LoadingRows } from '@/components/ui/skeleton'
import { Switch } from '@/components/ui/switch'
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table'
import { api, ApiError } from '@/lib/api'
import { useAuth } from '@/lib/auth'
import { humanDate, relativeTime } from '@/lib/format'

export interface Credential {
  access_key_id: string
  name: string
  enabled: boolean
  created_at: string
  last_seen: string | null
}

interface Created extends Credential {
  secret_key: string
}

const KEY = ['credentials']

function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false)
  const [failed, setFailed] = useState(false)
  return (
    <Button
      type="button"
      size="sm"
      variant="outline"
      aria-label={copied ? `${label}: copied` : label}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text)
          setCopied(true)
          setFailed(false)
          window.setTimeout(() => setCopied(false), 2000)
        } catch {
          setFailed(true)
        }
      }}
      title={failed ? 'The browser refused; select the text and copy it' : undefined}
    >
      {copied ? <Check aria-hidden="true" /> : <Copy aria-hidden="true" />}
      {copied ? 'Copied' : failed ? 'Copy failed' : 'Copy'}
    </Button>
  )
}

function SecretDialog({ created, onClose }: { created: Created | null; onClose: () => void }) {
  return (
    <Dialog open={created != null} onOpenChange={(o) => !o && onClose()}>
      <DialogContent
        title="Credential created"
        description="Copy the secret key now and store it somewhere safe: you will not see it again."
        onInteractOutside={(e) => e.preventDefault()}
        data-testid="credential-created"
      >
        {created && (
          <div className="grid gap-3 text-sm">
            <div className="grid gap-1">
              <span className="text-xs text-muted-foreground">Name</span>
              <span>{created.name}</span>
            </div>
            <div className="grid gap-1">
              <span className="text-xs text-muted-foreground">Access key id</span>
              <div className="flex items-center gap-2">
                <code className="break-all rounded bg-muted px-2 py-1 font-mono text-xs" data-testid="credential-access-key">
                  {created.access_key_id}
                </code>
                <CopyButton text={created.access_key_id} label="Copy access key id" />
              </div>
            </div>
            <div className="grid gap-1">
              <span className="text-xs text-muted-foreground">Secret key</span>
              <div className="flex items-center gap-2">
                <code className="select-all break-all rounded bg-muted px-2 py-1 font-mono text-xs" data-testid="credential-secret">
                  {created.secret_key}
                </code>
                <CopyButton text={created.secret_key} label="Copy secret key" />
              </div>
            </div>
            <p role="note" className="rounded-md border border-warning/50 p-2 text-xs text-warning">
              This is the only time the secret is shown; you will not see it again. If you lose it, delete this credential and create a new one.
            </p>
            <div className="flex justify-end">
              <DialogClose asChild>
                <Button>I have stored it</Button>
              </DialogClose>
            </div>
          </div>
        )}
      </DialogContent>
    </Dialog>
  )
}

type Pending = { kind: 'disable' | 'delete'; cred: Credential } | null

export function Credentials() {
  const qc = useQueryClient()
  const { session } = useAuth()
  const me = session?.accessKeyId
  const list = useQuery({ queryKey: KEY, queryFn: ({ signal }) => api<{ items: Credential[] }>('/api/credentials', { query: { limit: 1000 }, signal }) })
  const [name, setName] = useState('')
  const [created, setCreated] = useState<Created | null>(null)
  const [pending, setPending] = useState<Pending>(null)

  const create = useMutation({
    mutationFn: (n: string) => api<Created>('/api/credentials', { method: 'POST', body: { name: n } }),
    onSuccess: (c) => {
      setCreated(c)
      setName('')
      qc.invalidateQueries({ queryKey: KEY })
    },
  })
  const patch = useMutation({
    mutationFn: ({ id, enabled }: { id: string; enabled: boolean }) => api<Credential>(`/api/credentials/${encodeURIComponent(id)}`, { method: 'PATCH', body: { enabled } }),
    onSuccess: () => {
      qc.invalidateQueries({ queryKey: KEY })
      setPending(null)
    },
  })
  const del = useMutation({
    mutationFn: (id: string) => api<void>(`/api/credentials/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    onSuccess: () => {
      qc.invalidateQueries({ queryKey: KEY })
      setPending(null)
    },
  })

  const nameError = create.error instanceof ApiError && create.error.field === 'name' ? create.error.detail : null
  function submit(e: FormEvent) {
    e.preventDefault()
    if (name.trim()) create.mutate(name.trim())
  }

  const items = [...(list.data?.items ?? [])].sort((a, b) => a.name.localeCompare(b.name) || a.access_key_id.localeCompare(b.access_key_id))
  const own = pending?.cred.access_key_id === me

  return (
    <div className="grid gap-4">
      <Card>
        <CardHeader>
          <h2 className="text-sm font-semibold leading-none">New credential</h2>
          <CardDescription>A credential is an access key id and secret. Agents use one to register and sign their requests; people use one to log in here.</CardDescription>
        </CardHeader>
        <CardContent>
          <form onSubmit={submit} className="flex flex-wrap items-end gap-2" data-testid="credential-create" aria-label="Create a credential">
            <div className="w-72">
              <Field id="credential-name" label="Name" error={nameError} hint="For example the machine or person it is for.">
                <Input
                  id="credential-name"
                  value={name}
                  maxLength={100}
                  onChange={(e) => setName(e.target.value)}
                  placeholder="laptop agent"
                  aria-invalid={nameError ? true : undefined}
                  aria-describedby={nameError ? 'credential-name-error' : undefined}
                />
              </Field>
            </div>
            <Button type="submit" disabled={create.isPending || !name.trim()} className="mb-5">
              <KeyRound aria-hidden="true" /> {create.isPending ? 'Creating…' : 'Create credential'}
            </Button>
          </form>
          {create.error && !nameError && <ErrorMessage error={create.error} />}
        </CardContent>
      </Card>

      <Card>
        <CardHeader>
          <h2 className="text-sm font-semibold leading-none">Credentials</h2>
        </CardHeader>
        <CardContent className="p-0">
          {list.isPending ? (
            <div className="p-4">
              <LoadingRows rows={3} label="Loading credentials" />
            </div>
          ) : list.error ? (
            <div className="p-4">
              <ErrorMessage error={list.error} />
            </div>
          ) : items.length === 0 ? (
            <div className="p-4">
              <EmptyState title="No credentials">Create one above for each agent and person.</EmptyState>
            </div>
          ) : (
            <Table data-testid="credentials-table">
              <THead>
                <TR>
                  <TH scope="col">Name</TH>
                  <TH scope="col">Access key id</TH>
                  <TH scope="col">Enabled</TH>
                  <TH scope="col">Created</TH>
                  <TH scope="col">Last login</TH>
                  <TH scope="col">
                    <span className="sr-only">Actions</span>
                  </TH>
                </TR>
              </THead>
              <TBody>
                {items.map((c) => (
                  <TR key={c.access_key_id} data-testid="credential-row" data-access-key-id={c.access_key_id} data-enabled={c.enabled ? 'true' : 'false'}>
                    <TD>
                      <span className="font-medium">{c.name}</span>
                      {c.access_key_id === me && (
                        <Badge variant="outline" className="ml-2">
                          you
                        </Badge>
                      )}
                    </TD>
                    <TD className="font-mono text-xs">{c.access_key_id}</TD>
                    <TD>
                      <Switch
                        checked={c.enabled}
                        aria-label={`${c.enabled ? 'Disable' : 'Enable'} credential ${c.name}`}
                        data-testid="credential-enabled"
                        disabled={patch.isPending}
                        onCheckedChange={(v) => {
                          patch.reset()
                          if (v) patch.mutate({ id: c.access_key_id, enabled: true })
                          else setPending({ kind: 'disable', cred: c })
                        }}
                      />
                    </TD>
                    <TD title={humanDate(c.created_at)}>{relativeTime(c.created_at)}</TD>
                    <TD title={c.last_seen ? humanDate(c.last_seen) : undefined}>{c.last_seen ? relativeTime(c.last_seen) : 'never'}</TD>
                    <TD className="text-right">
                      <Button
                        size="icon"
                        variant="ghost"
                        aria-label={`Delete credential ${c.name}`}
                        data-testid="credential-delete"
                        onClick={() => {
                          del.reset()
                          setPending({ kind: 'delete', cred: c })
                        }}
                      >
                        <Trash2 />
                      </Button>
                    </TD>
                  </TR>
                ))}
              </TBody>
            </Table>
          )}
          {patch.error && !pending && (
            <div className="p-4">
              <ErrorMessage error={patch.error} />
            </div>
          )}
        </CardContent>
      </Card>

      <SecretDialog created={created} onClose={() => setCreated(null)} />
      <ConfirmDialog
        open={pending != null}
        onOpenChange={(o) => !o && setPending(null)}
        title={pending?.kind === 'delete' ? `Delete credential “${pending.cred.name}”?` : `Disable credential “${pending?.cred.name ?? ''}”?`}
        description={
          pending?.kind === 'delete'
            ? 'Anything using it (an agent, a person) can no longer log in or sign requests. This cannot be undone.'
            : 'Anything using it is refused until you enable it again.'
        }
        confirmLabel={pending?.kind === 'delete' ? (own ? 'Delete anyway' : 'Delete') : own ? 'Disable anyway' : 'Disable'}
        destructive
        busy={patch.isPending || del.isPending}
        error={pending?.kind === 'delete' ? del.error : patch.error}
        onConfirm={() => {
          if (!pending) return
          if (pending.kind === 'delete') del.mutate(pending.cred.access_key_id)
          else patch.mutate({ id: pending.cred.access_key_id, enabled: false })
        }}
        testid="credential-confirm"
      >
        {own && (
          <p role="alert" className="rounded-md border border-warning/50 p-2 text-sm text-warning" data-testid="own-credential-warning">
            This is the credential you are logged in with. The server refuses to {pending?.kind} it while you use it: log in with another credential first.
          </p>
        )}
      </ConfirmDialog>
    </div>
  )
}
