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
import { useEffect, useSyncExternalStore, type ReactNode } from 'react'
import { NavLink, useNavigate } from 'react-router-dom'
import { Button } from '@/components/ui/button'
import { DropdownMenu, DropdownMenuContent, DropdownMenuItem, DropdownMenuLabel, DropdownMenuSeparator, DropdownMenuTrigger } from '@/components/ui/menu'
import { useAuth } from '@/lib/auth'
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

function NotificationBell() {
  const { data } = useNotifications()
  const active = (data ?? []).filter((n) => n.status === 'active').sort((a, b) => b.last_seen.localeCompare(a.last_seen))
  return (
    <Popover.Root>
      <Popover.Trigger asChild>
        <Button variant="ghost" size="icon" aria-label={`Notifications: ${active.length} active`} className="relative">
          <Bell />
          {active.length > 0 && (
            <span className="absolute right-1 top-1 min-w-4 rounded-full bg-red-600 px-1 text-[10px] font-bold leading-4 text-white">{active.length}</span>
          )}
        </Button>
      </Popover.Trigger>
      <Popover.Portal>
        <Popover.Content align="end" sideOffset={6} className="z-50 w-80 rounded-md border bg-popover p-3 text-popover-foreground shadow-md">
          <p className="mb-2 text-sm font-semibold">Notifications</p>
          {active.length === 0 ? (
            <p className="text-sm text-muted-foreground">Nothing needs your attention.</p>
          ) : (
            <ul className="grid max-h-80 gap-2 overflow-y-auto">
              {active.map((n) => (
                <li key={n._id} className="rounded border p-2 text-sm">
                  <p className={cn('font-medium', n.severity === 'error' ? 'text-destructive' : n.severity === 'warning' ? 'text-warning' : '')}>{n.title}</p>
                  <p className="text-xs text-muted-foreground">{n.message}</p>
                  <p className="mt-1 text-[11px] text-muted-foreground">{relativeTime(n.last_seen)}</p>
                </li>
              ))}
            </ul>
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
