#!/bin/sh
# azd postdeploy (POSIX; postdeploy.ps1 does the same on Windows). Two opt-in wirings that need the
# deployed code:
# - ENABLE_JOB_ALERTS=true: subscribe the alerts topic to on_job_alert for the job AND workspace
#   alert types (infra/modules/alert-subscription.bicep): Event Grid validates a function
#   destination against the deployed function.
# - BUDGET_AMOUNT > 0: a monthly budget on the workspace's resource group whose action group calls
#   POST /api/monitor-alerts (infra/modules/budget-alert.bicep): its webhook URI carries the
#   function key, which exists once the code is deployed.
set -eu
here=$(dirname "$0")

case "${ENABLE_JOB_ALERTS:-false}" in
  true|True|TRUE)
    topic=$(basename "${JOB_ALERTS_TOPIC_ID:?the provision did not create the job-alerts topic}")
    # Both lists, comma-separated, trimmed, empty entries dropped, as a JSON array.
    types=$(python3 -c 'import json,sys; print(json.dumps([t.strip() for a in sys.argv[1:] for t in a.split(",") if t.strip()]))' \
      "${JOB_ALERT_EVENT_TYPES:-Quantum.Job.CostAlert,Quantum.Job.CancelRequested}" \
      "${WORKSPACE_ALERT_EVENT_TYPES:-}")
    az deployment group create \
      --resource-group "$AZURE_RESOURCE_GROUP" \
      --name job-alerts-subscription \
      --template-file "$here/../modules/alert-subscription.bicep" \
      --parameters topicName="$topic" functionAppName="$AZURE_FUNCTION_APP_NAME" eventTypes="$types" \
      --output none
    echo "topic $topic delivers $types to on_job_alert"
    ;;
  *) echo "job alerts off (azd env set ENABLE_JOB_ALERTS true to wire them)" ;;
esac

amount="${BUDGET_AMOUNT:-0}"
if [ "$amount" -gt 0 ] 2>/dev/null; then
  workspace_rg=$(printf '%s' "$QUANTUM_WORKSPACE_ID" | cut -d/ -f5)
  workspace_sub=$(printf '%s' "$QUANTUM_WORKSPACE_ID" | cut -d/ -f3)
  host=$(az functionapp show -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
    --query defaultHostName -o tsv)
  key=$(az functionapp function keys list -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
    --function-name on_monitor_alert --query default -o tsv)
  start=$(date -u +%Y-%m-01)
  az deployment group create \
    --subscription "$workspace_sub" \
    --resource-group "$workspace_rg" \
    --name quantum-budget-alert \
    --template-file "$here/../modules/budget-alert.bicep" \
    --parameters budgetName="${BUDGET_NAME:-quantum-workspace-budget}" amount="$amount" \
      thresholdPercent="${BUDGET_THRESHOLD_PERCENT:-100}" startDate="$start" \
      webhookUri="https://$host/api/monitor-alerts?code=$key" \
    --output none
  echo "budget ${BUDGET_NAME:-quantum-workspace-budget} ($amount a month) on $workspace_rg calls POST /api/monitor-alerts"
else
  echo "no budget alert (azd env set BUDGET_AMOUNT <monthly amount> to wire one)"
fi
