// The topic's subscription to on_job_alert. Event Grid validates an Azure Function destination
// against the deployed function, so this is deployed after the code (azure.yaml's postdeploy
// hook), not with the infrastructure.
param topicName string
param functionAppName string
@description('Event types that start a cancellation (JOB_ALERT_EVENT_TYPES).')
param eventTypes array

resource topic 'Microsoft.EventGrid/topics@2022-06-15' existing = {
  name: topicName
}

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource subscription 'Microsoft.EventGrid/topics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'cancel-running-job'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${app.id}/functions/on_job_alert'
        maxEventsPerBatch: 1
      }
    }
    filter: { includedEventTypes: eventTypes }
    eventDeliverySchema: 'EventGridSchema'
    // An alert the app fails on (a setting to fix, a backend down) is delivered again for a day.
    retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }
  }
}
