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
param workspaceAlertEventTypes string
@description('MONITOR_ALERT_ACTIONS: JSON, what each Azure Monitor alert rule starts ("" = none).')
param monitorAlertActions string
@description('GUARDRAIL_POLICY: JSON or @file in the package ("" = guardrails off).')
param guardrailPolicy string
@description('GUARDRAIL_SCHEDULE: NCRONTAB of the guardrail sweep.')
param guardrailSchedule string
@description('The alerts topic endpoint (EVENTS_TOPIC_ENDPOINT); empty without enableJobAlerts.')
param eventsTopicEndpoint string
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
  // Application Insights has local auth off: without this the worker's exporter is refused.
  // azure-monitor-opentelemetry-exporter reads it when no credential is passed (1.0.0b36,
  // "Enabled Entra ID Credential configuration via env var"; the distro requires that exporter
  // from 1.6.11 on, hence the floor in requirements.txt).
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
  { name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY', value: 'true' }
  { name: 'AZURE_CLIENT_ID', value: identityClientId }
  { name: 'QUANTUM_ENDPOINT', value: quantumEndpoint }
  { name: 'QUANTUM_API_VERSION', value: '2026-01-15-preview' }
  { name: 'JOB_ALERT_EVENT_TYPES', value: jobAlertEventTypes }
  { name: 'WORKSPACE_ALERT_EVENT_TYPES', value: workspaceAlertEventTypes }
  { name: 'MONITOR_ALERT_ACTIONS', value: monitorAlertActions }
  { name: 'GUARDRAIL_POLICY', value: guardrailPolicy }
  { name: 'GUARDRAIL_SCHEDULE', value: guardrailSchedule }
  { name: 'CANCEL_POLL_INTERVAL_SECONDS', value: '5' }
  { name: 'CANCEL_MAX_POLL_INTERVAL_SECONDS', value: '30' }
  { name: 'CANCEL_TIMEOUT_SECONDS', value: '1800' }
  { name: 'CALLER_TOKEN_KEY', value: '@Microsoft.KeyVault(SecretUri=${callerTokenKeySecretUri})' }
]
// The app identity publishes its outcome events to the alerts topic with Entra ID (EventGrid Data
// Sender, topic.bicep); no EVENTS_TOPIC_KEY in Azure, the topic has local auth off.
var publishesEvents = !empty(eventsTopicEndpoint)
var topicSettings = publishesEvents ? [{ name: 'EVENTS_TOPIC_ENDPOINT', value: eventsTopicEndpoint }] : []
var isolationSettings = isolateWorker ? [{ name: 'PYTHON_ISOLATE_WORKER_DEPENDENCIES', value: '1' }] : []
// host.json values are overridden by app settings named AzureFunctionsJobHost__<path>. No
// extension-bundle override: host.json's GA range [4.*, 5.0.0) resolves to 4.32 or later, the
// first GA bundles with the azureManaged (Durable Task Scheduler) provider (Learn, "Durable Task
// Scheduler" quickstart for Durable Functions: "use version 4.32.0 or later").
var schedulerSettings = useScheduler ? [
  { name: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING', value: 'Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}' }
  { name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__type', value: 'azureManaged' }
  { name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName', value: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING' }
  { name: 'AzureFunctionsJobHost__extensions__durableTask__hubName', value: taskHubName }
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
      appSettings: concat(baseSettings, topicSettings, isolationSettings, schedulerSettings)
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
