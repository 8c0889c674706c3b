# azd postdeploy on Windows: the same two opt-in wirings as postdeploy.sh (read it for the why).
$ErrorActionPreference = 'Stop'
$here = $PSScriptRoot

if ("$env:ENABLE_JOB_ALERTS".ToLower() -eq 'true') {
    if (-not $env:JOB_ALERTS_TOPIC_ID) { throw 'the provision did not create the job-alerts topic' }
    $topic = Split-Path -Leaf $env:JOB_ALERTS_TOPIC_ID
    $jobTypes = if ($env:JOB_ALERT_EVENT_TYPES) { $env:JOB_ALERT_EVENT_TYPES } else { 'Quantum.Job.CostAlert,Quantum.Job.CancelRequested' }
    $all = @("$jobTypes,$env:WORKSPACE_ALERT_EVENT_TYPES".Split(',') | ForEach-Object { $_.Trim() } | Where-Object { $_ })
    $types = ConvertTo-Json -InputObject $all -Compress
    az deployment group create `
        --resource-group $env:AZURE_RESOURCE_GROUP `
        --name job-alerts-subscription `
        --template-file (Join-Path $here '../modules/alert-subscription.bicep') `
        --parameters topicName=$topic functionAppName=$env:AZURE_FUNCTION_APP_NAME eventTypes=$types `
        --output none
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    Write-Output "topic $topic delivers $types to on_job_alert"
} else {
    Write-Output 'job alerts off (azd env set ENABLE_JOB_ALERTS true to wire them)'
}

$amount = 0
[void][int]::TryParse("$env:BUDGET_AMOUNT", [ref]$amount)
if ($amount -gt 0) {
    $parts = $env:QUANTUM_WORKSPACE_ID.Split('/')
    $budgetName = if ($env:BUDGET_NAME) { $env:BUDGET_NAME } else { 'quantum-workspace-budget' }
    $threshold = if ($env:BUDGET_THRESHOLD_PERCENT) { $env:BUDGET_THRESHOLD_PERCENT } else { '100' }
    $hostName = az functionapp show -g $env:AZURE_RESOURCE_GROUP -n $env:AZURE_FUNCTION_APP_NAME --query defaultHostName -o tsv
    $key = az functionapp function keys list -g $env:AZURE_RESOURCE_GROUP -n $env:AZURE_FUNCTION_APP_NAME `
        --function-name on_monitor_alert --query default -o tsv
    $start = (Get-Date).ToUniversalTime().ToString('yyyy-MM-01')
    az deployment group create `
        --subscription $parts[2] `
        --resource-group $parts[4] `
        --name quantum-budget-alert `
        --template-file (Join-Path $here '../modules/budget-alert.bicep') `
        --parameters budgetName=$budgetName amount=$amount thresholdPercent=$threshold startDate=$start `
            "webhookUri=https://$hostName/api/monitor-alerts?code=$key" `
        --output none
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    Write-Output "budget $budgetName ($amount a month) on $($parts[4]) calls POST /api/monitor-alerts"
} else {
    Write-Output 'no budget alert (azd env set BUDGET_AMOUNT <monthly amount> to wire one)'
}
