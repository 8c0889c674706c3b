#!/bin/sh
# azd postdeploy: with ENABLE_JOB_ALERTS=true, subscribe the job-alerts topic to on_job_alert
# (a second deployment, infra/modules/alert-subscription.bicep, now that the function exists).
set -eu
case "${ENABLE_JOB_ALERTS:-false}" in
  true|True|TRUE) ;;
  *) echo "job alerts off (azd env set ENABLE_JOB_ALERTS true to wire them)"; exit 0 ;;
esac
topic=$(basename "${JOB_ALERTS_TOPIC_ID:?the provision did not create the job-alerts topic}")
types=$(python3 -c 'import json,sys; print(json.dumps([t.strip() for t in sys.argv[1].split(",") if t.strip()]))' \
  "${JOB_ALERT_EVENT_TYPES:-Quantum.Job.CostAlert,Quantum.Job.CancelRequested}")
az deployment group create \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name job-alerts-subscription \
  --template-file "$(dirname "$0")/../modules/alert-subscription.bicep" \
  --parameters topicName="$topic" functionAppName="$AZURE_FUNCTION_APP_NAME" eventTypes="$types" \
  --output none
echo "topic $topic delivers $types to on_job_alert"
