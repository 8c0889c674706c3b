// Everything in the app's resource group, wired together.
param location string
param tags object
param suffix string
param durableBackend string
param enableJobAlerts bool
param principalId string
param pythonVersion string
param alwaysReadyInstances int
@secure()
param callerTokenKey string
param jobAlertEventTypes string
param workspaceAlertEventTypes string
param alertPublisherPrincipalIds string
param monitorAlertActions string
param guardrailPolicy string
param guardrailSchedule string
param schedulerSku string
param quantumEndpoint string

var useScheduler = durableBackend == 'DurableTaskScheduler'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-cancel-${suffix}'
  location: location
  tags: tags
}

module storage 'storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    name: 'stcancel${suffix}'
    identityPrincipalId: identity.properties.principalId
    principalId: principalId
  }
}

module monitoring 'monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    suffix: suffix
    identityPrincipalId: identity.properties.principalId
  }
}

module vault 'keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    tags: tags
    name: 'kv-cancel-${suffix}'
    identityPrincipalId: identity.properties.principalId
    principalId: principalId
    callerTokenKey: callerTokenKey
  }
}

module scheduler 'scheduler.bicep' = if (useScheduler) {
  name: 'scheduler'
  params: {
    location: location
    tags: tags
    suffix: suffix
    identityPrincipalId: identity.properties.principalId
    principalId: principalId
    sku: schedulerSku
  }
}

module topic 'topic.bicep' = if (enableJobAlerts) {
  name: 'job-alerts-topic'
  params: {
    location: location
    tags: tags
    name: 'evgt-job-alerts-${suffix}'
    identityPrincipalId: identity.properties.principalId
    principalId: principalId
    publisherPrincipalIds: alertPublisherPrincipalIds
  }
}

module function 'function.bicep' = {
  name: 'function'
  params: {
    location: location
    tags: tags
    suffix: suffix
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    callerTokenKeySecretUri: vault.outputs.callerTokenKeySecretUri
    pythonVersion: pythonVersion
    alwaysReadyInstances: alwaysReadyInstances
    quantumEndpoint: quantumEndpoint
    jobAlertEventTypes: jobAlertEventTypes
    workspaceAlertEventTypes: workspaceAlertEventTypes
    monitorAlertActions: monitorAlertActions
    guardrailPolicy: guardrailPolicy
    guardrailSchedule: guardrailSchedule
    eventsTopicEndpoint: enableJobAlerts ? topic.outputs.endpoint : ''
    schedulerEndpoint: useScheduler ? scheduler.outputs.endpoint : ''
    taskHubName: useScheduler ? scheduler.outputs.taskHubName : ''
  }
}

output identityPrincipalId string = identity.properties.principalId
output functionAppName string = function.outputs.name
output functionAppId string = function.outputs.id
output topicId string = enableJobAlerts ? topic.outputs.id : ''
