// Creating and deleting a virtual directory.
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { ErrorMessage } from '@/components/common'
import { Button } from '@/components/ui/button'
import { Input } from '@/components/ui/input'
import { Field } from '@/components/ui/label'
import { Dialog, DialogContent } from '@/components/ui/sheet'
import { api, ApiError } from '@/lib/api'
import type { VirtualDirectoryDoc } from '@/lib/docs'
import { directoryUrl } from './api'
import { checkDirName, joinPath } from './logic'

export function NewDirectoryDialog({
  parent,
  open,
  onOpenChange,
  onCreated,
}: {
  parent: string
  open: boolean
  onOpenChange: (o: boolean) => void
  onCreated: (path: string) => void
}) {
  const qc = useQueryClient()
  const [name, setName] = useState('')
  const [local, setLocal] = useState<string | null>(null)
  const create = useMutation({
    mutationFn: (path: string) => api<VirtualDirectoryDoc>('/api/vfs/directories', { method: 'POST', body: { virtual_path: path } }),
    onSuccess: (_, path) => {
      void qc.invalidateQueries({ queryKey: ['vfs'] })
      setName('')
      onCreated(path)
    },
  })
  const e = create.error
  // The name field owns the path's errors and "already exists".
  const nameError = local ?? (e instanceof ApiError && (e.field === 'virtual_path' || e.status === 409) ? e.detail : null)
  const otherError = e && !nameError ? e : null
  return (
    <Dialog
      open={open}
      onOpenChange={(o) => {
        if (!o) {
          create.reset()
          setLocal(null)
        }
        onOpenChange(o)
      }}
    >
      {open && (
        <DialogContent title="New directory" description={`A directory inside ${parent}. Add mounts to it afterwards.`} data-testid="new-dir-dialog">
          <form
            className="grid gap-4"
            onSubmit={(ev) => {
              ev.preventDefault()
              const problem = checkDirName(name)
              setLocal(problem)
              if (!problem) create.mutate(joinPath(parent, name.trim()))
            }}
          >
            <Field id="new-dir-name" label="Name" error={nameError}>
              <Input
                id="new-dir-name"
                value={name}
                autoFocus
                onChange={(ev) => {
                  setName(ev.target.value)
                  setLocal(null)
                  create.reset()
                }}
                aria-invalid={nameError ? true : undefined}
                aria-describedby={nameError ? 'new-dir-name-error' : undefined}
                placeholder="e.g. photos"
                data-testid="new-dir-name"
              />
            </Field>
            {name.trim() && !nameError && <p className="text-xs text-muted-foreground">Will create <span className="font-mono">{joinPath(parent, name.trim())}</span></p>}
            {otherError && <ErrorMessage error={otherError} />}
            <div className="flex justify-end gap-2">
              <Button type="button" variant="outline" onClick={() => onOpenChange(false)}>
                Cancel
              </Button>
              <Button type="submit" disabled={create.isPending} data-testid="new-dir-create">
                {create.isPending ? 'Creating…' : 'Create'}
              </Button>
            </div>
          </form>
        </DialogContent>
      )}
    </Dialog>
  )
}

export function DeleteDirectoryDialog({
  path,
  descendants,
  open,
  onOpenChange,
  onDeleted,
}: {
  path: string
  descendants: number
  open: boolean
  onOpenChange: (o: boolean) => void
  onDeleted: () => void
}) {
  const qc = useQueryClient()
  const [cascade, setCascade] = useState(false)
  const del = useMutation({
    mutationFn: () => api<void>(directoryUrl(path), { method: 'DELETE', query: { recursive: cascade && descendants > 0 ? true : undefined } }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['vfs'] })
      onDeleted()
    },
  })
  const needsConfirm = descendants > 0 && !cascade
  return (
    <Dialog
      open={open}
      onOpenChange={(o) => {
        if (!o) {
          del.reset()
          setCascade(false)
        }
        onOpenChange(o)
      }}
    >
      {open && (
        <DialogContent title={`Delete ${path}?`} description="The directory and its mounts are removed from the virtual namespace. No file on any node is touched." data-testid="delete-dir-dialog">
          {descendants > 0 ? (
            <div className="grid gap-3">
              <p className="rounded-md border border-destructive/40 bg-destructive/10 p-3 text-sm text-destructive" data-testid="delete-cascade-warning">
                {path} contains {descendants} {descendants === 1 ? 'directory' : 'directories'} below it. {descendants === 1 ? 'It' : 'They'} will be deleted too, with {descendants === 1 ? 'its' : 'their'} mounts.
              </p>
              <label className="flex items-center gap-2 text-sm">
                <input type="checkbox" checked={cascade} onChange={(e) => setCascade(e.target.checked)} className="size-4 accent-destructive" data-testid="delete-cascade" />
                Also delete the {descendants} {descendants === 1 ? 'directory' : 'directories'} below
              </label>
            </div>
          ) : (
            <p className="text-sm">It has no directories below it.</p>
          )}
          {del.error != null && <ErrorMessage error={del.error} />}
          <div className="flex justify-end gap-2">
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)}>
              Cancel
            </Button>
            <Button type="button" variant="destructive" disabled={needsConfirm || del.isPending} onClick={() => del.mutate()} data-testid="delete-dir-confirm">
              {del.isPending ? 'Deleting…' : descendants > 0 ? `Delete ${descendants + 1} directories` : 'Delete'}
            </Button>
          </div>
        </DialogContent>
      )}
    </Dialog>
  )
}
