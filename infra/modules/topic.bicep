// The Event Grid custom topic that carries this app's job and workspace alert types (Azure Quantum
// has no system topic) and its outcome events. Local (key) auth is off: every publisher sends
// with an Entra token as EventGrid Data Sender, which is granted here to the app identity (it
// publishes its outcome events), to each principal in publisherPrincipalIds (a Logic App's
// identity, a pipeline's service principal, …) and to the deploying user (a test publish).
param location string
param tags object
param name string
param identityPrincipalId string
param principalId string
@description('Comma-separated object IDs of service principals or managed identities allowed to publish alerts.')
param publisherPrincipalIds string

// Built-in role: EventGrid Data Sender (Azure RBAC built-in roles, Integration).
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

resource appSends 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, identityPrincipalId, eventGridDataSender)
  scope: topic
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
  }
}

resource publishersSend 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for publisher in split(publisherPrincipalIds, ','): if (!empty(trim(publisher))) {
    name: guid(topic.id, trim(publisher), eventGridDataSender)
    scope: topic
    properties: {
      principalId: trim(publisher)
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    }
  }
]

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
output endpoint string = topic.properties.endpoint
