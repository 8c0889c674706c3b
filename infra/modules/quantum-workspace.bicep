// The existing Azure Quantum workspace: its data-plane endpoint (endpointUri) is authoritative.
param workspaceName string

resource workspace 'Microsoft.Quantum/workspaces@2023-11-13-preview' existing = {
  name: workspaceName
}

output endpointUri string = workspace.properties.endpointUri
