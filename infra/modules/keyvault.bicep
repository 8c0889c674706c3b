// The key that seals callers' tokens, in a Key Vault with RBAC: the app reads it through a Key
// Vault reference as Key Vault Secrets User; nothing else of the vault is open to it.
param location string
param tags object
param name string
param identityPrincipalId string
param principalId string
@secure()
param callerTokenKey string

// Built-in roles: Key Vault Secrets User (the app), Key Vault Secrets Officer (the deployer,
// to rotate the key).
var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var secretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource key 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'caller-token-key'
  properties: {
    value: callerTokenKey
    contentType: 'AES-256 key, base64'
    attributes: { enabled: true }
  }
}

resource appReads 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, secretsUser)
  scope: vault
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
  }
}

resource userRotates 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(vault.id, principalId, secretsOfficer)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'User'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficer)
  }
}

// Versionless: after a rotation the app picks up the new version (within a day, or at restart).
output callerTokenKeySecretUri string = '${vault.properties.vaultUri}secrets/${key.name}'
