import { PageHeader } from '@/components/common'

export default function SearchPage() {
  return <PageHeader title="SearchPage" description="Being built." />
}
