// cancel-running-job on Azure: a Flex Consumption function app with a user-assigned identity,
// identity-only storage and monitoring, a Key Vault for the caller-token key, the roles it
// needs (on the Quantum workspace too, wherever it lives), and optionally the Durable Task
// Scheduler backend and an Event Grid topic for job alerts. Plain resources only (no registry
// modules), so the template parses and scans offline.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names and tags derive from it.')
param environmentName string

@minLength(1)
@description('Region of every resource (Flex Consumption must be offered there).')
param location string

@description('Resource ID of an existing Azure Quantum workspace, possibly in another resource group.')
param quantumWorkspaceId string

@allowed(['AzureStorage', 'DurableTaskScheduler'])
@description('Durable Functions storage backend: Azure Storage (default) or the Durable Task Scheduler.')
param durableBackend string = 'AzureStorage'

@description('Create an Event Grid custom topic for job alerts (subscribed to on_job_alert after deploy).')
param enableJobAlerts bool = false

@description('Object ID of the deploying user: gets data-plane roles for local development. Optional.')
param principalId string = ''

// The versions this template has offered since its first release. The live list for a region:
// Get-AzFunctionAppFlexConsumptionRuntime -Location <region> -Runtime python (Az.Functions); 3.13
// is not offered here because the CI does not deploy it (README "Deploy to Azure").
@allowed(['3.10', '3.11', '3.12'])
@description('Python version of the function app (Flex Consumption); azd: PYTHON_VERSION.')
param pythonVersion string = '3.11'

@minValue(0)
@maxValue(10)
@description('Always-ready instances for the Durable group: 0 scales to zero (cold starts), 1 keeps one warm (billed while idle).')
param alwaysReadyInstances int = 0

@secure()
@description('32 random bytes, base64: seals callers\' tokens. The preprovision hook makes one.')
param callerTokenKey string

@description('Event types that start a cancellation.')
param jobAlertEventTypes string = 'Quantum.Job.CostAlert,Quantum.Job.CancelRequested'

@description('Event types that start a workspace-scale cancel ("" = off).')
param workspaceAlertEventTypes string = ''

@description('Comma-separated object IDs of principals (a Logic App identity, a pipeline) that may publish alerts to the topic.')
param alertPublisherPrincipalIds string = ''

@description('MONITOR_ALERT_ACTIONS (JSON). Empty: the budget\'s action below when budgetAmount > 0, else none.')
param monitorAlertActions string = ''

@description('GUARDRAIL_POLICY (JSON or @file); empty: guardrails off.')
param guardrailPolicy string = ''

@description('GUARDRAIL_SCHEDULE (NCRONTAB, six fields).')
param guardrailSchedule string = '0 */5 * * * *'

@allowed(['Consumption', 'Dedicated'])
@description('Durable Task Scheduler SKU (durableBackend DurableTaskScheduler only).')
param durableTaskSchedulerSku string = 'Consumption'

@minValue(0)
@description('Monthly budget on the workspace\'s resource group, in the billing currency (0: none). The postdeploy hook wires it to POST /api/monitor-alerts.')
param budgetAmount int = 0

@description('Name of that budget: also the alert rule name MONITOR_ALERT_ACTIONS is looked up by.')
param budgetName string = 'quantum-workspace-budget'

var suffix = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var workspaceParts = split(quantumWorkspaceId, '/')
// A Cost Management budget alert names no target resource (alertTargetIDs is null in the common
// alert schema's budget variant), so its action names the workspace: cancel every unfinished job.
var budgetAction = {
  '${budgetName}': {
    workspace: {
      subscriptionId: workspaceParts[2]
      resourceGroupName: workspaceParts[4]
      workspaceName: last(workspaceParts)
    }
    filter: {}
  }
}
var alertActions = !empty(monitorAlertActions) ? monitorAlertActions : (budgetAmount > 0 ? string(budgetAction) : '')

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module app 'modules/app.bicep' = {
  name: 'app'
  scope: group
  params: {
    location: location
    tags: tags
    suffix: suffix
    durableBackend: durableBackend
    enableJobAlerts: enableJobAlerts
    principalId: principalId
    pythonVersion: pythonVersion
    alwaysReadyInstances: alwaysReadyInstances
    callerTokenKey: callerTokenKey
    jobAlertEventTypes: jobAlertEventTypes
    workspaceAlertEventTypes: workspaceAlertEventTypes
    alertPublisherPrincipalIds: alertPublisherPrincipalIds
    monitorAlertActions: alertActions
    guardrailPolicy: guardrailPolicy
    guardrailSchedule: guardrailSchedule
    schedulerSku: durableTaskSchedulerSku
    quantumEndpoint: workspace.outputs.endpointUri
  }
}

// The workspace may live in another resource group: read it and grant the role there.
module workspace 'modules/quantum-workspace.bicep' = {
  name: 'quantum-workspace'
  scope: resourceGroup(workspaceParts[2], workspaceParts[4])
  params: {
    workspaceName: last(workspaceParts)
  }
}

module workspaceRole 'modules/quantum-role.bicep' = {
  name: 'quantum-role'
  scope: resourceGroup(workspaceParts[2], workspaceParts[4])
  params: {
    workspaceName: last(workspaceParts)
    principalId: app.outputs.identityPrincipalId
  }
}

output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output AZURE_FUNCTION_APP_ID string = app.outputs.functionAppId
output QUANTUM_ENDPOINT string = workspace.outputs.endpointUri
output JOB_ALERTS_TOPIC_ID string = app.outputs.topicId
output JOB_ALERT_EVENT_TYPES string = jobAlertEventTypes
output WORKSPACE_ALERT_EVENT_TYPES string = workspaceAlertEventTypes
output BUDGET_NAME string = budgetName
output BUDGET_AMOUNT int = budgetAmount
