import { Compass } from 'lucide-react'
import { Link, useLocation } from 'react-router-dom'
import { buttonVariants } from '@/components/ui/button'

export default function NotFound() {
  const { pathname } = useLocation()
  return (
    <div className="mx-auto flex max-w-md flex-col items-center gap-3 py-16 text-center" data-testid="not-found">
      <Compass className="size-10 text-muted-foreground" aria-hidden="true" />
      <h1 className="text-xl font-semibold">Page not found</h1>
      <p className="text-sm text-muted-foreground">
        There is nothing at <code className="break-all font-mono">{pathname}</code>. The link may be old, or the address mistyped.
      </p>
      <div className="flex gap-2">
        <Link to="/" className={buttonVariants()} data-testid="not-found-home">
          Go to the dashboard
        </Link>
        <Link to="/files" className={buttonVariants({ variant: 'outline' })}>
          Browse files
        </Link>
      </div>
    </div>
  )
}
