// A node's network mounts: list, add, edit, delete
// (GET/POST /api/nodes/{id}/mounts, PATCH/DELETE …/mounts/{mount_id}).
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Pencil, Plus, Trash2 } from 'lucide-react'
import { useState, type FormEvent } from 'react'
import { EmptyState, ErrorMessage, NodeBadge } from '@/components/common'
import { Button } from '@/components/ui/button'
import { Card, CardContent, CardDescription, CardHeader } from '@/components/ui/card'
import { Input } from '@/components/ui/input'
import { Field } from '@/components/ui/label'
import { LoadingRows } from '@/components/ui/skeleton'
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table'
import { api, ApiError } from '@/lib/api'
import type { NetworkMount, NodeDoc } from '@/lib/docs'
import { ConfirmDialog } from './ConfirmDialog'
import { bodyOf, draftOf, EMPTY_DRAFT, MOUNT_TYPES, patchOf, validateDraft, type MountDraft, type MountErrors } from './mounts'
import { selectClass } from './styles'

const FIELDS = ['remote_node_id', 'remote_base_export_path', 'local_mount_path', 'mount_type', 'priority'] as const

function mountsKey(nodeId: string) {
  return ['node-mounts', nodeId]
}

function MountForm({
  nodeId,
  nodes,
  editing,
  onDone,
}: {
  nodeId: string
  nodes: NodeDoc[]
  editing: NetworkMount | null
  onDone: () => void
}) {
  const qc = useQueryClient()
  const [draft, setDraft] = useState<MountDraft>(editing ? draftOf(editing) : EMPTY_DRAFT)
  const [errors, setErrors] = useState<MountErrors>({})
  const save = useMutation({
    mutationFn: async (d: MountDraft) => {
      const body = bodyOf(d)
      if (editing) {
        const patch = patchOf(editing, body)
        if (Object.keys(patch).length === 0) return editing
        return api<NetworkMount>(`/api/nodes/${encodeURIComponent(nodeId)}/mounts/${encodeURIComponent(editing.mount_id)}`, { method: 'PATCH', body: patch })
      }
      return api<NetworkMount>(`/api/nodes/${encodeURIComponent(nodeId)}/mounts`, { method: 'POST', body })
    },
    onSuccess: () => {
      qc.invalidateQueries({ queryKey: mountsKey(nodeId) })
      onDone()
    },
    onError: (e) => {
      if (e instanceof ApiError && e.field && (FIELDS as readonly string[]).includes(e.field)) setErrors({ [e.field]: e.detail })
    },
  })
  const apiFieldError = save.error instanceof ApiError && save.error.field && (FIELDS as readonly string[]).includes(save.error.field)

  function submit(e: FormEvent) {
    e.preventDefault()
    const v = validateDraft(draft)
    setErrors(v)
    if (Object.keys(v).length === 0) save.mutate(draft)
  }
  const set = (k: keyof MountDraft) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value })
  const err = (k: keyof MountDraft) => ({
    'aria-invalid': errors[k] ? true : undefined,
    'aria-describedby': errors[k] ? `mount-${k}-error` : undefined,
  })
  const others = nodes.filter((n) => n.node_id !== nodeId)

  return (
    <form onSubmit={submit} data-testid="mount-form" className="grid gap-3 rounded-md border p-3" aria-label={editing ? 'Edit network mount' : 'Add network mount'} noValidate>
      <p className="text-sm font-medium">{editing ? `Edit mount ${editing.mount_id}` : 'Add a network mount'}</p>
      <div className="grid gap-3 md:grid-cols-2">
        <Field
          id="mount-remote_node_id"
          label="Remote node"
          error={errors.remote_node_id}
          hint={others.length === 0 ? 'There is no other node yet: register the node that exports the share first.' : 'The node whose files this mount exposes.'}
        >
          <select id="mount-remote_node_id" className={selectClass} value={draft.remote_node_id} onChange={set('remote_node_id')} {...err('remote_node_id')}>
            <option value="">Choose a node…</option>
            {others.map((n) => (
              <option key={n.node_id} value={n.node_id}>
                {n.friendly_name || n.node_id}
              </option>
            ))}
            {editing && !others.some((n) => n.node_id === editing.remote_node_id) && <option value={editing.remote_node_id}>{editing.remote_node_id}</option>}
          </select>
        </Field>
        <Field id="mount-mount_type" label="Mount type" error={errors.mount_type}>
          <select id="mount-mount_type" className={selectClass} value={draft.mount_type} onChange={set('mount_type')} {...err('mount_type')}>
            {MOUNT_TYPES.map((t) => (
              <option key={t.value} value={t.value}>
                {t.label}
              </option>
            ))}
          </select>
        </Field>
        <Field id="mount-remote_base_export_path" label="Remote export path" error={errors.remote_base_export_path} hint="Absolute path on the remote node at the mount's root.">
          <Input id="mount-remote_base_export_path" value={draft.remote_base_export_path} onChange={set('remote_base_export_path')} placeholder="/srv/share" {...err('remote_base_export_path')} />
        </Field>
        <Field id="mount-local_mount_path" label="Local mount path" error={errors.local_mount_path} hint="Where it is mounted on this node.">
          <Input id="mount-local_mount_path" value={draft.local_mount_path} onChange={set('local_mount_path')} placeholder="/mnt/share" {...err('local_mount_path')} />
        </Field>
        <Field id="mount-priority" label="Priority" error={errors.priority} hint="Higher wins when several mounts cover a file.">
          <Input id="mount-priority" type="number" step={1} inputMode="numeric" value={draft.priority} onChange={set('priority')} className="w-32" {...err('priority')} />
        </Field>
      </div>
      {save.error && !apiFieldError && <ErrorMessage error={save.error} />}
      <div className="flex gap-2">
        <Button type="submit" disabled={save.isPending} data-testid="mount-save">
          {save.isPending ? 'Saving…' : editing ? 'Save changes' : 'Add mount'}
        </Button>
        <Button type="button" variant="outline" onClick={onDone}>
          Cancel
        </Button>
      </div>
    </form>
  )
}

export function NetworkMounts({ nodeId, nodes }: { nodeId: string; nodes: NodeDoc[] }) {
  const qc = useQueryClient()
  const mounts = useQuery({
    queryKey: mountsKey(nodeId),
    queryFn: ({ signal }) => api<{ items: NetworkMount[] }>(`/api/nodes/${encodeURIComponent(nodeId)}/mounts`, { signal }),
  })
  const [form, setForm] = useState<{ editing: NetworkMount | null } | null>(null)
  const [deleting, setDeleting] = useState<NetworkMount | null>(null)
  const del = useMutation({
    mutationFn: (m: NetworkMount) => api<void>(`/api/nodes/${encodeURIComponent(nodeId)}/mounts/${encodeURIComponent(m.mount_id)}`, { method: 'DELETE' }),
    onSuccess: () => {
      qc.invalidateQueries({ queryKey: mountsKey(nodeId) })
      setDeleting(null)
    },
  })
  const items = mounts.data?.items ?? []
  const typeLabel = (t: string) => MOUNT_TYPES.find((x) => x.value === t)?.label ?? t

  return (
    <Card data-testid="network-mounts">
      <CardHeader className="flex-row items-start justify-between gap-2">
        <div className="grid gap-1">
          <h2 className="text-sm font-semibold leading-none">Network mounts</h2>
          <CardDescription>Other nodes' files this node reaches through a local mount (NFS, SMB, a sync folder), so it reads them without the network transfer.</CardDescription>
        </div>
        {!form && (
          <Button size="sm" variant="outline" onClick={() => setForm({ editing: null })} data-testid="mount-add">
            <Plus aria-hidden="true" /> Add mount
          </Button>
        )}
      </CardHeader>
      <CardContent className="grid gap-3">
        {form && <MountForm key={form.editing?.mount_id ?? 'new'} nodeId={nodeId} nodes={nodes} editing={form.editing} onDone={() => setForm(null)} />}
        {mounts.isPending ? (
          <LoadingRows rows={2} label="Loading network mounts" />
        ) : mounts.error ? (
          <ErrorMessage error={mounts.error} />
        ) : items.length === 0 ? (
          !form && (
            <EmptyState title="No network mounts">
              If this node mounts another node's share (for example a NAS over NFS), add it so reads go through the mount.
            </EmptyState>
          )
        ) : (
          <Table>
            <THead>
              <TR>
                <TH scope="col">Remote node</TH>
                <TH scope="col">Remote export path</TH>
                <TH scope="col">Local mount path</TH>
                <TH scope="col">Type</TH>
                <TH scope="col" className="text-right">
                  Priority
                </TH>
                <TH scope="col">
                  <span className="sr-only">Actions</span>
                </TH>
              </TR>
            </THead>
            <TBody>
              {items.map((m) => (
                <TR key={m.mount_id} data-testid="network-mount-row" data-mount-id={m.mount_id}>
                  <TD>
                    <NodeBadge nodeId={m.remote_node_id} />
                  </TD>
                  <TD className="font-mono text-xs">{m.remote_base_export_path}</TD>
                  <TD className="font-mono text-xs">{m.local_mount_path}</TD>
                  <TD>{typeLabel(m.mount_type)}</TD>
                  <TD className="text-right tabular-nums">{m.priority}</TD>
                  <TD className="text-right">
                    <div className="flex justify-end gap-1">
                      <Button size="icon" variant="ghost" aria-label={`Edit mount ${m.local_mount_path}`} onClick={() => setForm({ editing: m })}>
                        <Pencil />
                      </Button>
                      <Button size="icon" variant="ghost" aria-label={`Delete mount ${m.local_mount_path}`} onClick={() => setDeleting(m)}>
                        <Trash2 />
                      </Button>
                    </div>
                  </TD>
                </TR>
              ))}
            </TBody>
          </Table>
        )}
      </CardContent>
      <ConfirmDialog
        open={deleting != null}
        onOpenChange={(o) => {
          if (!o) {
            setDeleting(null)
            del.reset()
          }
        }}
        title="Delete this network mount?"
        description={deleting ? `${deleting.local_mount_path} (from ${deleting.remote_base_export_path}) will no longer be used for reads.` : undefined}
        confirmLabel="Delete mount"
        destructive
        busy={del.isPending}
        error={del.error}
        onConfirm={() => deleting && del.mutate(deleting)}
        testid="mount-delete"
      />
    </Card>
  )
}
