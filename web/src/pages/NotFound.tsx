import { PageHeader } from '@/components/common'

export default function NotFound() {
  return <PageHeader title="NotFound" description="Being built." />
}
