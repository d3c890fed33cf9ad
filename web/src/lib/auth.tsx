// Login state. The token is held in React state and in api.ts's memory, never
// persisted: a reload or a new tab starts at the login page. An expired or
// revoked token (any 401 from the API) sends the user back to the login page
// with a message saying why.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react'
import { api, setToken, setUnauthorizedHandler } from './api'

export interface Session {
  token: string
  accessKeyId: string
  expiresAt: string
}

interface AuthValue {
  session: Session | null
  /** Why the user was sent back to the login page, if they were. */
  reason: string | null
  login(accessKeyId: string, secretKey: string): Promise<void>
  logout(message?: string): void
}

const AuthContext = createContext<AuthValue | null>(null)

interface LoginResponse {
  token: string
  expires_at: string
  access_key_id: string
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(null)
  const [reason, setReason] = useState<string | null>(null)

  const logout = useCallback((message?: string) => {
    const t = session?.token
    setToken(null)
    setSession(null)
    setReason(message ?? null)
    if (t && !message) {
      // Best effort: revoke the token on the server. Ignore failures.
      fetch('/api/auth/logout', { method: 'POST', headers: { Authorization: `Bearer ${t}` } }).catch(() => {})
    }
  }, [session])

  const login = useCallback(async (accessKeyId: string, secretKey: string) => {
    const r = await api<LoginResponse>('/api/auth/login', {
      method: 'POST',
      body: { access_key_id: accessKeyId.trim(), secret_key: secretKey },
      anonymous: true,
    })
    setToken(r.token)
    setReason(null)
    setSession({ token: r.token, accessKeyId: r.access_key_id, expiresAt: r.expires_at })
  }, [])

  useEffect(() => {
    setUnauthorizedHandler((message) => {
      setToken(null)
      setSession(null)
      setReason(message)
    })
    return () => setUnauthorizedHandler(null)
  }, [])

  // Log out at the token's expiry even when no request notices it.
  useEffect(() => {
    if (!session) return
    const ms = Date.parse(session.expiresAt) - Date.now()
    if (!Number.isFinite(ms)) return
    const id = window.setTimeout(
      () => {
        setToken(null)
        setSession(null)
        setReason('Your session has expired. Please log in again.')
      },
      Math.max(0, Math.min(ms, 2 ** 31 - 1)),
    )
    return () => window.clearTimeout(id)
  }, [session])

  const value = useMemo(() => ({ session, reason, login, logout }), [session, reason, login, logout])
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>
}

export function useAuth(): AuthValue {
  const v = useContext(AuthContext)
  if (!v) throw new Error('useAuth outside AuthProvider')
  return v
}
