// The navigation shell: sidebar (wide screens) or bottom tabs (narrow), top
// bar with the instance name, replica sync state, notification bell and user
// menu, and the offline banner. Ctrl+K (or "/") jumps to search from anywhere.
import * as Popover from '@radix-ui/react-popover'
import {
  Bell,
  FolderTree,
  HardDrive,
  LayoutDashboard,
  LogOut,
  Search,
  Server,
  Settings,
  Tags,
  Files,
  WifiOff,
  User,
} from 'lucide-react'
import { useEffect, useState, useSyncExternalStore, type ReactNode } from 'react'
import { NavLink, useNavigate } from 'react-router-dom'
import { Button } from '@/components/ui/button'
import { DropdownMenu, DropdownMenuContent, DropdownMenuItem, DropdownMenuLabel, DropdownMenuSeparator, DropdownMenuTrigger } from '@/components/ui/menu'
import { api } from '@/lib/api'
import { useAuth } from '@/lib/auth'
import { parseAction } from '@/components/dashboard/activity'
import { useNotifications } from '@/lib/docs'
import { relativeTime } from '@/lib/format'
import { getSyncStatus, subscribeSync } from '@/lib/pouch'
import { cn } from '@/lib/utils'

export const NAV = [
  { to: '/', label: 'Dashboard', icon: LayoutDashboard, end: true },
  { to: '/files', label: 'Files', icon: Files },
  { to: '/search', label: 'Search', icon: Search },
  { to: '/labels', label: 'Labels', icon: Tags },
  { to: '/vfs', label: 'Virtual FS', icon: FolderTree },
  { to: '/nodes', label: 'Nodes', icon: Server },
  { to: '/storage', label: 'Storage', icon: HardDrive },
  { to: '/settings', label: 'Settings', icon: Settings },
] as const

export function useSyncStatus() {
  return useSyncExternalStore(subscribeSync, getSyncStatus)
}

function SyncIndicator() {
  const s = useSyncStatus()
  const text =
    s.state === 'live'
      ? 'Live'
      : s.state === 'syncing'
        ? 'Syncing…'
        : s.state === 'connecting'
          ? 'Connecting…'
          : s.state === 'offline'
            ? 'Offline, retrying'
            : s.state === 'denied'
              ? 'Sync refused'
              : 'Stopped'
  const dot = s.state === 'live' ? 'bg-emerald-500' : s.state === 'offline' || s.state === 'denied' ? 'bg-red-500' : 'bg-amber-500'
  return (
    <span className="hidden items-center gap-1.5 text-xs text-muted-foreground sm:inline-flex" data-testid="sync-state" data-state={s.state} title={s.error ?? undefined}>
      <span className={cn('inline-block size-2 rounded-full', dot)} aria-hidden="true" />
      {text}
    </span>
  )
}

const SEVERITY_ORDER = ['error', 'warning', 'info'] as const
const SEVERITY_HEADING: Record<string, string> = { error: 'Errors', warning: 'Warnings', info: 'Information' }

function NotificationBell() {
  const { data } = useNotifications()
  const [busy, setBusy] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const active = (data ?? []).filter((n) => n.status === 'active').sort((a, b) => b.last_seen.localeCompare(a.last_seen))
  const worst = active.some((n) => n.severity === 'error') ? 'error' : active.some((n) => n.severity === 'warning') ? 'warning' : 'info'
  // The change arrives through the live replica; the call only starts it.
  const call = async (key: string, path: string, method = 'POST') => {
    setBusy(key)
    setError(null)
    try {
      await api(path, { method })
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e))
    } finally {
      setBusy(null)
    }
  }
  return (
    <Popover.Root>
      <Popover.Trigger asChild>
        <Button variant="ghost" size="icon" aria-label={`Notifications: ${active.length} active`} className="relative" data-testid="notification-bell">
          <Bell />
          {active.length > 0 && (
            <span
              data-testid="notification-count"
              data-severity={worst}
              className={cn(
                'absolute right-1 top-1 min-w-4 rounded-full px-1 text-[10px] font-bold leading-4 text-white',
                worst === 'error' ? 'bg-red-600' : worst === 'warning' ? 'bg-amber-500' : 'bg-slate-500',
              )}
            >
              {active.length}
            </span>
          )}
        </Button>
      </Popover.Trigger>
      <Popover.Portal>
        <Popover.Content align="end" sideOffset={6} className="z-50 w-96 rounded-md border bg-popover p-3 text-popover-foreground shadow-md" data-testid="notification-panel">
          <div className="mb-2 flex items-center gap-2">
            <p className="text-sm font-semibold">Notifications</p>
            {active.length > 0 && (
              <Button size="sm" variant="outline" className="ml-auto h-7" disabled={busy !== null} onClick={() => call('all', '/api/notifications/acknowledge-all')}>
                Acknowledge all
              </Button>
            )}
          </div>
          {error && <p className="mb-2 text-xs text-destructive" role="alert">{error}</p>}
          {active.length === 0 ? (
            <p className="text-sm text-muted-foreground">Nothing needs your attention.</p>
          ) : (
            <div className="grid max-h-96 gap-3 overflow-y-auto">
              {SEVERITY_ORDER.map((sev) => {
                const group = active.filter((n) => n.severity === sev)
                if (group.length === 0) return null
                return (
                  <section key={sev} aria-label={SEVERITY_HEADING[sev]} data-severity-group={sev}>
                    <h3 className="mb-1 text-xs font-semibold uppercase text-muted-foreground">{SEVERITY_HEADING[sev]}</h3>
                    <ul className="grid gap-2">
                      {group.map((n) => (
                        <li key={n._id} className="rounded border p-2 text-sm" data-testid="notification" data-id={n._id}>
                          <p className={cn('font-medium', n.severity === 'error' ? 'text-destructive' : n.severity === 'warning' ? 'text-warning' : '')}>
                            {n.title}
                            {(n.occurrence_count ?? 1) > 1 && <span className="ml-1 text-xs text-muted-foreground">×{n.occurrence_count}</span>}
                          </p>
                          <p className="text-xs text-muted-foreground">{n.message}</p>
                          <p className="mt-1 text-[11px] text-muted-foreground">
                            {n.source?.node_id ?? ''} · {relativeTime(n.last_seen)}
                          </p>
                          <div className="mt-1 flex flex-wrap gap-1">
                            {(n.actions ?? []).map((a) => {
                              const p = parseAction(a.api)
                              return p ? (
                                <Button key={a.label} size="sm" variant="outline" className="h-6 text-xs" disabled={busy !== null} onClick={() => call(n._id + a.label, p.path, p.method)}>
                                  {a.label}
                                </Button>
                              ) : null
                            })}
                            <Button
                              size="sm"
                              variant="ghost"
                              className="h-6 text-xs"
                              disabled={busy !== null}
                              onClick={() => call(n._id, `/api/notifications/${encodeURIComponent(n._id)}/acknowledge`)}
                            >
                              Acknowledge
                            </Button>
                          </div>
                        </li>
                      ))}
                    </ul>
                  </section>
                )
              })}
            </div>
          )}
        </Popover.Content>
      </Popover.Portal>
    </Popover.Root>
  )
}

function OfflineBanner() {
  const s = useSyncStatus()
  if (s.state !== 'offline' && s.state !== 'denied') return null
  return (
    <div role="status" className="flex items-center gap-2 bg-amber-100 px-4 py-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-200" data-testid="offline-banner">
      <WifiOff className="size-4" />
      {s.state === 'offline'
        ? 'Offline, retrying. The server cannot be reached; what you see may be out of date. This page reconnects by itself.'
        : `The server refused the live sync (${s.error ?? 'denied'}).`}
    </div>
  )
}

export function AppShell({ children }: { children: ReactNode }) {
  const { session, logout } = useAuth()
  const navigate = useNavigate()

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null
      const typing = target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable)
      if ((e.key === 'k' && (e.ctrlKey || e.metaKey)) || (e.key === '/' && !typing)) {
        e.preventDefault()
        navigate('/search?focus=1')
      }
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [navigate])

  return (
    <div className="flex h-full flex-col">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:z-50 focus:bg-background focus:p-2">
        Skip to content
      </a>
      <header className="flex h-12 shrink-0 items-center gap-3 border-b px-4">
        <span className="flex items-center gap-2 font-semibold">
          <span aria-hidden="true" className="grid grid-cols-2 gap-0.5">
            <span className="size-2 bg-indigo-600" />
            <span className="size-2 bg-cyan-600" />
            <span className="size-2 bg-cyan-600" />
            <span className="size-2 bg-indigo-600" />
          </span>
          MosaicFS
        </span>
        <div className="ml-auto flex items-center gap-2">
          <SyncIndicator />
          <NotificationBell />
          <DropdownMenu>
            <DropdownMenuTrigger asChild>
              <Button variant="ghost" size="sm">
                <User aria-hidden="true" />
                <span className="sr-only">User menu: </span>
                <span className="hidden font-mono text-xs md:inline">{session?.accessKeyId}</span>
              </Button>
            </DropdownMenuTrigger>
            <DropdownMenuContent align="end">
              <DropdownMenuLabel>Signed in as {session?.accessKeyId}</DropdownMenuLabel>
              <DropdownMenuItem onSelect={() => navigate('/settings')}>
                <Settings /> Settings
              </DropdownMenuItem>
              <DropdownMenuSeparator />
              <DropdownMenuItem onSelect={() => logout()}>
                <LogOut /> Log out
              </DropdownMenuItem>
            </DropdownMenuContent>
          </DropdownMenu>
        </div>
      </header>
      <OfflineBanner />
      <div className="flex min-h-0 flex-1">
        <nav aria-label="Main" className="hidden w-52 shrink-0 flex-col gap-1 border-r p-2 md:flex">
          {NAV.map(({ to, label, icon: Icon, ...rest }) => (
            <NavLink
              key={to}
              to={to}
              end={'end' in rest}
              className={({ isActive }) =>
                cn(
                  'flex items-center gap-2 rounded-md px-3 py-2 text-sm',
                  isActive ? 'bg-accent font-medium text-accent-foreground' : 'text-muted-foreground hover:bg-muted hover:text-foreground',
                )
              }
            >
              <Icon className="size-4" aria-hidden="true" />
              {label}
            </NavLink>
          ))}
        </nav>
        <main id="main" className="min-w-0 flex-1 overflow-auto p-4 pb-20 md:p-6 md:pb-6">
          {children}
        </main>
      </div>
      <nav aria-label="Main (tabs)" className="fixed inset-x-0 bottom-0 z-30 flex justify-around border-t bg-background py-1 md:hidden">
        {NAV.filter((n) => ['/', '/files', '/search', '/nodes', '/settings'].includes(n.to)).map(({ to, label, icon: Icon, ...rest }) => (
          <NavLink
            key={to}
            to={to}
            end={'end' in rest}
            className={({ isActive }) => cn('flex flex-col items-center gap-0.5 px-2 py-1 text-[11px]', isActive ? 'text-primary' : 'text-muted-foreground')}
          >
            <Icon className="size-5" aria-hidden="true" />
            {label}
          </NavLink>
        ))}
      </nav>
    </div>
  )
}
