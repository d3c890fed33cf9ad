// Settings (plan 5.12), one tab per area, the tab in `?tab=`.
import { useSearchParams } from 'react-router-dom'
import { PageHeader } from '@/components/common'
import { Credentials } from '@/components/settings/Credentials'
import { BridgesTab, PluginsTab } from '@/components/settings/Stubs'
import { AboutTab, GeneralTab } from '@/components/settings/System'
import { Tabs, TabsContent, TabsList, TabsTrigger } from '@/components/ui/tabs'

const TABS = [
  { id: 'credentials', label: 'Credentials' },
  { id: 'plugins', label: 'Plugins' },
  { id: 'bridges', label: 'Bridges' },
  { id: 'general', label: 'General' },
  { id: 'about', label: 'About' },
] as const
type TabId = (typeof TABS)[number]['id']

export default function SettingsPage() {
  const [params, setParams] = useSearchParams()
  const raw = params.get('tab')
  const tab: TabId = TABS.some((t) => t.id === raw) ? (raw as TabId) : 'credentials'
  return (
    <div className="grid gap-2">
      <PageHeader title="Settings" description="Credentials, integrations and this instance." />
      <Tabs
        value={tab}
        onValueChange={(v) => {
          const next = new URLSearchParams(params)
          next.set('tab', v)
          setParams(next, { replace: true })
        }}
      >
        <TabsList aria-label="Settings sections" data-testid="settings-tabs" className="flex-wrap">
          {TABS.map((t) => (
            <TabsTrigger key={t.id} value={t.id} data-tab={t.id} className="focus-visible:outline-2 focus-visible:outline-ring">
              {t.label}
            </TabsTrigger>
          ))}
        </TabsList>
        <TabsContent value="credentials">
          <Credentials />
        </TabsContent>
        <TabsContent value="plugins">
          <PluginsTab />
        </TabsContent>
        <TabsContent value="bridges">
          <BridgesTab />
        </TabsContent>
        <TabsContent value="general">
          <GeneralTab />
        </TabsContent>
        <TabsContent value="about">
          <AboutTab />
        </TabsContent>
      </Tabs>
    </div>
  )
}
