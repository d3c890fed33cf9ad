import { PageHeader } from '@/components/common'

export default function Dashboard() {
  return <PageHeader title="Dashboard" description="Being built." />
}
