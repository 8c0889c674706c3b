// The Event Grid custom topic job alerts are published to (Azure Quantum has no system topic).
// Local (key) auth is off: publishers send with an Entra token as EventGrid Data Sender.
param location string
param tags object
param name string
param principalId string

// Built-in role: EventGrid Data Sender (the deploying user, to send a test alert).
var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    inputSchema: 'EventGridSchema'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource userSends 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(topic.id, principalId, eventGridDataSender)
  scope: topic
  properties: {
    principalId: principalId
    principalType: 'User'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
  }
}

output id string = topic.id
output name string = topic.name
