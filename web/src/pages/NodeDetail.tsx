import { PageHeader } from '@/components/common'

export default function NodeDetail() {
  return <PageHeader title="NodeDetail" description="Being built." />
}
