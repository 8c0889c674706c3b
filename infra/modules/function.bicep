// The Flex Consumption (FC1) Linux function app: Python, the user-assigned identity for
// everything (storage, deployment package, Application Insights, Key Vault, Quantum), and every
// app setting the app reads that has no default the deployment should keep.
param location string
param tags object
param suffix string
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerUrl string
param appInsightsConnectionString string
param callerTokenKeySecretUri string
param pythonVersion string
param alwaysReadyInstances int
param quantumEndpoint string
param jobAlertEventTypes string
@description('Durable Task Scheduler endpoint; empty for the Azure Storage backend.')
param schedulerEndpoint string
param taskHubName string

var useScheduler = !empty(schedulerEndpoint)
// The worker bundles an azure-functions older than 1.25 (no CloudEvents) and, before Python
// 3.13, loads it instead of the app's own unless told to isolate.
var isolateWorker = int(split(pythonVersion, '.')[1]) < 13

var baseSettings = [
  { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
  { name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY', value: 'true' }
  { name: 'AZURE_CLIENT_ID', value: identityClientId }
  { name: 'QUANTUM_ENDPOINT', value: quantumEndpoint }
  { name: 'QUANTUM_API_VERSION', value: '2026-01-15-preview' }
  { name: 'JOB_ALERT_EVENT_TYPES', value: jobAlertEventTypes }
  { name: 'CANCEL_POLL_INTERVAL_SECONDS', value: '5' }
  { name: 'CANCEL_MAX_POLL_INTERVAL_SECONDS', value: '30' }
  { name: 'CANCEL_TIMEOUT_SECONDS', value: '1800' }
  { name: 'CALLER_TOKEN_KEY', value: '@Microsoft.KeyVault(SecretUri=${callerTokenKeySecretUri})' }
]
var isolationSettings = isolateWorker ? [{ name: 'PYTHON_ISOLATE_WORKER_DEPENDENCIES', value: '1' }] : []
// host.json values are overridden by app settings named AzureFunctionsJobHost__<path>.
var schedulerSettings = useScheduler ? [
  { name: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING', value: 'Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}' }
  { name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__type', value: 'azureManaged' }
  { name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName', value: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING' }
  { name: 'AzureFunctionsJobHost__extensions__durableTask__hubName', value: taskHubName }
  { name: 'AzureFunctionsJobHost__extensionBundle__id', value: 'Microsoft.Azure.Functions.ExtensionBundle.Preview' }
  { name: 'AzureFunctionsJobHost__extensionBundle__version', value: '[4.29.0, 5.0.0)' }
] : []

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-cancel-${suffix}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-cancel-${suffix}'
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: concat(baseSettings, isolationSettings, schedulerSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 100
        instanceMemoryMB: 2048
        // "durable" is the Flex group of every Durable Functions trigger.
        alwaysReady: alwaysReadyInstances > 0 ? [{ name: 'durable', instanceCount: alwaysReadyInstances }] : []
      }
      runtime: { name: 'python', version: pythonVersion }
    }
  }
}

// Basic publishing credentials (FTP and SCM) off: deployments use Entra identities only.
resource ftp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: { allow: false }
}

resource scm 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: { allow: false }
}

output name string = app.name
output id string = app.id
