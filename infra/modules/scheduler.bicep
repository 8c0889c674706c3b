// The Durable Task Scheduler backend: a scheduler and its task hub, and the Durable Task Data
// Contributor role for the app's identity (and the deploying user, for its dashboard).
param location string
param tags object
param suffix string
param identityPrincipalId string
param principalId string
@allowed(['Consumption', 'Dedicated'])
@description('Consumption bills per action; Dedicated bills capacity units (one here).')
param sku string = 'Consumption'

var taskHubName = 'CancelRunningJob'
// GA API version: in 2025-11-01 the SKU name is the defined 'Consumption' | 'Dedicated' (the
// 2024-10-01-preview types leave it free text). Source: Azure/bicep-types-az
// generated/durabletask/microsoft.durabletask/2025-11-01/types.md, and Learn "Microsoft.DurableTask
// schedulers" (Bicep resource definition).
// Built-in role: Durable Task Data Contributor.
var durableTaskDataContributor = '0ad04412-c4d5-4796-b79c-f76d14c8d402'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: 'dts-cancel-${suffix}'
  location: location
  tags: tags
  properties: {
    ipAllowlist: ['0.0.0.0/0']
    sku: (sku == 'Dedicated') ? { name: sku, capacity: 1 } : { name: sku }
  }
}

resource hub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

resource appRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(scheduler.id, identityPrincipalId, durableTaskDataContributor)
  scope: scheduler
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributor)
  }
}

resource userRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(scheduler.id, principalId, durableTaskDataContributor)
  scope: scheduler
  properties: {
    principalId: principalId
    principalType: 'User'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributor)
  }
}

output endpoint string = scheduler.properties.endpoint
output taskHubName string = hub.name
