import { PageHeader } from '@/components/common'

export default function FileBrowser() {
  return <PageHeader title="FileBrowser" description="Being built." />
}
