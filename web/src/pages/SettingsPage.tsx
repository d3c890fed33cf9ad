import { PageHeader } from '@/components/common'

export default function SettingsPage() {
  return <PageHeader title="SettingsPage" description="Being built." />
}
