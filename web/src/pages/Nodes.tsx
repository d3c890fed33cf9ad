import { PageHeader } from '@/components/common'

export default function Nodes() {
  return <PageHeader title="Nodes" description="Being built." />
}
