// Quantum Workspace Data Contributor for the app's identity, on the workspace itself: deployed
// into the workspace's resource group, which may differ from the app's.
param workspaceName string
param principalId string

// Built-in role: Quantum Workspace Data Contributor (preview). Its data actions are
// Microsoft.Quantum/Workspaces/jobs/read and jobs/write (Learn, "Azure built-in roles for
// Compute"); whether jobs/write covers :cancel and sessions/{id}:close is not documented there
// (README "Deploy to Azure" → "Not verified").
var quantumWorkspaceDataContributor = 'c1410b24-3e69-4857-8f86-4d0a2e603250'

resource workspace 'Microsoft.Quantum/workspaces@2023-11-13-preview' existing = {
  name: workspaceName
}

resource role 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, quantumWorkspaceDataContributor)
  scope: workspace
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', quantumWorkspaceDataContributor)
  }
}
