import { PageHeader } from '@/components/common'

export default function Storage() {
  return <PageHeader title="Storage" description="Being built." />
}
