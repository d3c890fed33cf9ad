// Routes. Every page but the login is behind the auth guard; pages are loaded
// lazily so the first page ships only what it needs.
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { lazy, Suspense, useEffect, useState } from 'react'
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router-dom'
import { AppShell } from '@/components/layout/AppShell'
import { LoadingRows } from '@/components/ui/skeleton'
import { ApiError } from '@/lib/api'
import { AuthProvider, useAuth } from '@/lib/auth'
import { startSync, stopSync } from '@/lib/pouch'
import Login from '@/pages/Login'

const Dashboard = lazy(() => import('@/pages/Dashboard'))
const Nodes = lazy(() => import('@/pages/Nodes'))
const NodeDetail = lazy(() => import('@/pages/NodeDetail'))
const FileBrowser = lazy(() => import('@/pages/FileBrowser'))
const SearchPage = lazy(() => import('@/pages/SearchPage'))
const Labels = lazy(() => import('@/pages/Labels'))
const VirtualFs = lazy(() => import('@/pages/VirtualFs'))
const Storage = lazy(() => import('@/pages/Storage'))
const SettingsPage = lazy(() => import('@/pages/SettingsPage'))
const NotFound = lazy(() => import('@/pages/NotFound'))

function makeClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Retry transient failures (offline, 5xx), not answers such as 400/404.
        retry: (n, e) => n < 3 && (!(e instanceof ApiError) || e.status === 0 || e.status >= 500),
        retryDelay: (n) => Math.min(1000 * 2 ** n, 10000),
        refetchOnWindowFocus: true,
      },
    },
  })
}

function Guarded() {
  const { session } = useAuth()
  const location = useLocation()
  const [client] = useState(makeClient)
  useEffect(() => {
    if (!session) return
    startSync(client)
    return () => stopSync()
  }, [session, client])
  if (!session) {
    const next = location.pathname + location.search
    return <Navigate to={`/login${next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`} replace />
  }
  return (
    <QueryClientProvider client={client}>
      <AppShell>
        <Suspense fallback={<LoadingRows rows={6} label="Loading page" />}>
          <Routes>
            <Route path="/" element={<Dashboard />} />
            <Route path="/nodes" element={<Nodes />} />
            <Route path="/nodes/:nodeId" element={<NodeDetail />} />
            <Route path="/files/*" element={<FileBrowser />} />
            <Route path="/search" element={<SearchPage />} />
            <Route path="/labels" element={<Labels />} />
            <Route path="/vfs/*" element={<VirtualFs />} />
            <Route path="/storage" element={<Storage />} />
            <Route path="/settings" element={<SettingsPage />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </AppShell>
    </QueryClientProvider>
  )
}

function LoginRoute() {
  const { session } = useAuth()
  const location = useLocation()
  if (session) {
    const next = new URLSearchParams(location.search).get('next')
    return <Navigate to={next && next.startsWith('/') && !next.startsWith('//') ? next : '/'} replace />
  }
  return <Login />
}

export default function App() {
  return (
    <AuthProvider>
      <BrowserRouter>
        <Routes>
          <Route path="/login" element={<LoginRoute />} />
          <Route path="/*" element={<Guarded />} />
        </Routes>
      </BrowserRouter>
    </AuthProvider>
  )
}
