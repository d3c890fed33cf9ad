// Tabs whose features arrive later: present, honest about it, and inert.
import { Cloud, HardDrive, Mail, Puzzle } from 'lucide-react'
import type { ReactNode } from 'react'
import { EmptyState } from '@/components/common'
import { Button } from '@/components/ui/button'
import { Card, CardContent, CardDescription, CardHeader } from '@/components/ui/card'

export function PluginsTab() {
  return (
    <Card data-testid="plugins-stub">
      <CardHeader>
        <h2 className="text-sm font-semibold leading-none">Plugins</h2>
        <CardDescription>Plugins annotate files (text extraction, thumbnails, tags) and answer queries, per node.</CardDescription>
      </CardHeader>
      <CardContent>
        <EmptyState title="Plugins arrive with the plugin system" icon={<Puzzle className="size-8" />}>
          No plugins can be installed yet. When the plugin system lands, each node's plugins and their settings are listed here.
        </EmptyState>
      </CardContent>
    </Card>
  )
}

const BRIDGES: { id: string; name: string; what: string; icon: ReactNode }[] = [
  { id: 'gdrive', name: 'Google Drive', what: 'Files in your Google Drive.', icon: <Cloud className="size-5" aria-hidden="true" /> },
  { id: 'onedrive', name: 'OneDrive', what: 'Files in Microsoft OneDrive.', icon: <Cloud className="size-5" aria-hidden="true" /> },
  { id: 'icloud', name: 'iCloud Drive', what: 'Files in Apple iCloud Drive.', icon: <Cloud className="size-5" aria-hidden="true" /> },
  { id: 's3', name: 'S3 / B2', what: 'Objects in an S3-compatible bucket (AWS, Backblaze B2, MinIO).', icon: <HardDrive className="size-5" aria-hidden="true" /> },
  { id: 'email', name: 'Email', what: 'Attachments from an IMAP mailbox.', icon: <Mail className="size-5" aria-hidden="true" /> },
]

export function BridgesTab() {
  return (
    <div className="grid gap-3">
      <p className="text-sm text-muted-foreground">Bridges bring cloud services into MosaicFS as nodes of their own. Connecting them arrives with bridge nodes.</p>
      <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3">
        {BRIDGES.map((b) => (
          <Card key={b.id} data-testid="bridge-stub" data-bridge={b.id}>
            <CardHeader>
              <div className="flex items-center gap-2">
                {b.icon}
                <h2 className="text-sm font-semibold leading-none">{b.name}</h2>
              </div>
              <CardDescription>{b.what}</CardDescription>
            </CardHeader>
            <CardContent className="flex items-center justify-between gap-2">
              <span id={`bridge-${b.id}-note`} className="text-xs text-muted-foreground">
                Arrives with bridge nodes
              </span>
              <Button size="sm" disabled aria-describedby={`bridge-${b.id}-note`}>
                Connect
              </Button>
            </CardContent>
          </Card>
        ))}
      </div>
    </div>
  )
}
