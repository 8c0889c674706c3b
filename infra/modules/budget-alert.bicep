// Opt-in (BUDGET_AMOUNT > 0): a monthly Cost Management budget on the Quantum workspace's resource
// group, wired to an action group whose webhook is this app's POST /api/monitor-alerts, in the
// common alert schema. Deployed by the postdeploy hook into the workspace's resource group, after
// the code, because the webhook URI carries the function key (a secure parameter, never an
// output). Budgets notify action groups at subscription and resource-group scope only
// (BudgetAssociatedNotification.ContactGroups); budget alerts reach action groups in the common
// alert schema (Azure update "Budget alert supports action groups with common alert schema",
// 2022-05-30). Resource shapes: Learn "Microsoft.Consumption budgets" (2024-08-01) and
// "Microsoft.Insights actionGroups" (webhookReceivers: name, serviceUri, useCommonAlertSchema).
param budgetName string
@minValue(1)
param amount int
@minValue(1)
@maxValue(1000)
@description('Percent of the amount at which the alert fires.')
param thresholdPercent int = 100
@description('First day of the current month, yyyy-MM-01 (budgets start on a month boundary).')
param startDate string
@secure()
@description('https://<app>.azurewebsites.net/api/monitor-alerts?code=<function key>')
param webhookUri string

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${budgetName}'
  location: 'global'
  properties: {
    enabled: true
    groupShortName: 'qcancel'
    webhookReceivers: [
      {
        name: 'cancel-running-job'
        serviceUri: webhookUri
        useCommonAlertSchema: true
      }
    ]
  }
}

resource budget 'Microsoft.Consumption/budgets@2024-08-01' = {
  name: budgetName
  properties: {
    amount: amount
    category: 'Cost'
    timeGrain: 'Monthly'
    timePeriod: { startDate: startDate }
    notifications: {
      actual: {
        enabled: true
        operator: 'GreaterThanOrEqualTo'
        threshold: thresholdPercent
        thresholdType: 'Actual'
        contactEmails: []
        contactGroups: [actionGroup.id]
      }
    }
  }
}

output actionGroupId string = actionGroup.id
