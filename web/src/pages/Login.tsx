import { useState, type FormEvent } from 'react'
import { Button } from '@/components/ui/button'
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card'
import { Input } from '@/components/ui/input'
import { Field } from '@/components/ui/label'
import { ApiError } from '@/lib/api'
import { useAuth } from '@/lib/auth'

export default function Login() {
  const { login, reason } = useAuth()
  const [key, setKey] = useState('')
  const [secret, setSecret] = useState('')
  const [error, setError] = useState<ApiError | Error | null>(null)
  const [busy, setBusy] = useState(false)

  async function submit(e: FormEvent) {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await login(key, secret)
    } catch (err) {
      setError(err as Error)
    } finally {
      setBusy(false)
    }
  }

  const fieldErr = error instanceof ApiError ? error.field : null
  return (
    <main className="flex min-h-full items-center justify-center p-4">
      <Card className="w-full max-w-sm">
        <CardHeader>
          <h1 className="text-lg font-semibold">MosaicFS</h1>
          <CardTitle className="sr-only">Log in</CardTitle>
          <CardDescription>Log in with an access key and its secret (from `mosaicfs-cli credentials create` or Settings).</CardDescription>
        </CardHeader>
        <CardContent>
          {reason && (
            <p role="status" className="mb-3 rounded-md bg-amber-100 p-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-200">
              {reason}
            </p>
          )}
          <form onSubmit={submit} className="grid gap-4" noValidate>
            <Field id="access_key_id" label="Access key" error={fieldErr === 'access_key_id' && error instanceof ApiError ? error.detail : null}>
              <Input
                id="access_key_id"
                name="access_key_id"
                autoComplete="username"
                placeholder="MOSAICFS_…"
                value={key}
                onChange={(e) => setKey(e.target.value)}
                aria-invalid={fieldErr === 'access_key_id'}
                aria-describedby={fieldErr === 'access_key_id' ? 'access_key_id-error' : undefined}
                required
                autoFocus
              />
            </Field>
            <Field id="secret_key" label="Secret">
              <Input
                id="secret_key"
                name="secret_key"
                type="password"
                autoComplete="current-password"
                value={secret}
                onChange={(e) => setSecret(e.target.value)}
                required
              />
            </Field>
            {error && !fieldErr && (
              <p role="alert" className="text-sm text-destructive">
                {error.message}
              </p>
            )}
            <Button type="submit" disabled={busy || !key || !secret}>
              {busy ? 'Logging in…' : 'Log in'}
            </Button>
          </form>
        </CardContent>
      </Card>
    </main>
  )
}
