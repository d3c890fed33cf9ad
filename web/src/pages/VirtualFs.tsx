import { PageHeader } from '@/components/common'

export default function VirtualFs() {
  return <PageHeader title="VirtualFs" description="Being built." />
}
