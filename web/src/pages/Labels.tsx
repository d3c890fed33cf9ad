import { PageHeader } from '@/components/common'

export default function Labels() {
  return <PageHeader title="Labels" description="Being built." />
}
