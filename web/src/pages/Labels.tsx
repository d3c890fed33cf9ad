// Labels: direct assignments and label rules, tab in ?tab=assignments|rules.
// `?tab=rules&new=1&node_id=X&path_prefix=/a/b/` opens the editor for a new
// rule pre-filled (the file browser's "Apply labels to folder").
import { useSearchParams } from 'react-router-dom'
import { PageHeader } from '@/components/common'
import { AssignmentsTab } from '@/components/labels/AssignmentsTab'
import { RulesTab } from '@/components/labels/RulesTab'
import { Tabs, TabsContent, TabsList, TabsTrigger } from '@/components/ui/tabs'

export default function Labels() {
  const [params, setParams] = useSearchParams()
  const tab = params.get('tab') === 'rules' ? 'rules' : 'assignments'
  const initialNew =
    params.get('new') === '1'
      ? { node_id: params.get('node_id') || undefined, path_prefix: params.get('path_prefix') || undefined }
      : null
  return (
    <div>
      <PageHeader title="Labels" description="Labels assigned to files directly, and rules that label every file below a folder." />
      <Tabs
        value={tab}
        onValueChange={(v) => {
          setParams(v === 'assignments' ? {} : { tab: v }, { replace: true })
        }}
      >
        <TabsList aria-label="Label views" data-testid="labels-tabs">
          <TabsTrigger value="assignments" data-testid="tab-assignments">
            Assignments
          </TabsTrigger>
          <TabsTrigger value="rules" data-testid="tab-rules">
            Rules
          </TabsTrigger>
        </TabsList>
        <TabsContent value="assignments">
          <AssignmentsTab />
        </TabsContent>
        <TabsContent value="rules">
          <RulesTab
            initialNew={initialNew}
            onEditorClosed={() => {
              if (params.has('new')) setParams({ tab: 'rules' }, { replace: true })
            }}
          />
        </TabsContent>
      </Tabs>
    </div>
  )
}
