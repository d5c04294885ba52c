// Azure RBAC for the rotator's identity, each role scoped to the one resource that needs it.
// By default the vault and the mail service get custom roles holding only what the code calls; creating a
// role definition needs Microsoft.Authorization/roleDefinitions/write (Owner or User Access Administrator,
// not Role Based Access Control Administrator). useCustomRoles=false falls back to the built-in roles.
param principalId string
param storageAccountName string
param keyVaultName string
param communicationServiceName string
param appInsightsName string
param useCustomRoles bool

@description('Makes the custom role names unique in the tenant (role names are tenant-wide, resource groups are not).')
param resourceToken string

// Built-in role definition ids (same in every tenant).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer
var communicationAndEmailServiceOwner = '09976791-48a7-449e-bb21-39d1a415f350' // Communication and Email Service Owner
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' existing = {
  name: communicationServiceName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Blob Data Owner, not Contributor: the Functions host manages its own containers and blob leases
// (timer schedule monitor, host locks) as well as the rotator's lock leases in rotation-locks.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, principalId, storageBlobDataOwner)
  scope: storageAccount
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
  }
}

// The queue trigger reads rotation-work and moves failed messages to rotation-work-poison.
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, principalId, storageQueueDataContributor)
  scope: storageAccount
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
  }
}

// Run history in the rotationruns table.
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, principalId, storageTableDataContributor)
  scope: storageAccount
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
  }
}

// What the code does in the vault: write a new version of a secret (setSecret), list secrets and versions
// and read their tags (readMetadata), update a version's tags (update), and read a value (getSecret) only
// to adopt a hand-kept secret whose value signs in as the app, and to read its own pending-notification
// secret. Not granted, unlike Key Vault Secrets Officer: delete, purge, recover, backup, restore.
// Scope: the vault. Key Vault RBAC could scope to single secrets, but the rotator creates the secrets it
// writes, so no narrower scope exists when the roles are assigned.
var secretWriterDataActions = [
  'Microsoft.KeyVault/vaults/secrets/getSecret/action'
  'Microsoft.KeyVault/vaults/secrets/readMetadata/action'
  'Microsoft.KeyVault/vaults/secrets/setSecret/action'
  'Microsoft.KeyVault/vaults/secrets/update/action'
]

// Role definitions are stored per subscription but their names must be unique in the tenant: the guid
// includes the subscription (through resourceGroup().id) and the role name includes the resource token.
resource secretWriterRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (useCustomRoles) {
  name: guid(resourceGroup().id, 'entra-secret-rotator-secret-writer')
  properties: {
    roleName: 'Entra secret rotator secret writer (${resourceToken})'
    description: 'Write, tag and read secrets in the rotator\'s vault (${resourceGroup().id}). No delete, purge, recover, backup or restore.'
    type: 'CustomRole'
    assignableScopes: [resourceGroup().id]
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: secretWriterDataActions
        notDataActions: []
      }
    ]
  }
}

var vaultRoleDefinitionId = useCustomRoles
  ? secretWriterRole.id
  : subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)

// The role is part of the name: ARM refuses to change the role of an existing assignment.
resource secretWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, useCustomRoles ? 'custom-secret-writer' : keyVaultSecretsOfficer)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: vaultRoleDefinitionId
  }
}

// Sender role: Microsoft documents these actions for sending with an Entra identity (SMTP guide); unlike
// the built-in owner role they exclude listing or regenerating the resource's access keys.
resource emailSenderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (useCustomRoles) {
  name: guid(resourceGroup().id, 'entra-secret-rotator-email-sender')
  properties: {
    roleName: 'Entra secret rotator email sender (${resourceToken})'
    description: 'Send email through Azure Communication Services with an Entra identity (${resourceGroup().id}). Nothing else.'
    type: 'CustomRole'
    assignableScopes: [resourceGroup().id]
    permissions: [
      {
        actions: [
          'Microsoft.Communication/CommunicationServices/Read'
          'Microsoft.Communication/CommunicationServices/Write'
          'Microsoft.Communication/EmailServices/write'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

var emailRoleDefinitionId = useCustomRoles
  ? emailSenderRole.id
  : subscriptionResourceId('Microsoft.Authorization/roleDefinitions', communicationAndEmailServiceOwner)

// The role is part of the name: ARM refuses to change the role of an existing assignment.
resource emailSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(
    communicationService.id,
    principalId,
    useCustomRoles ? 'custom-email-sender' : communicationAndEmailServiceOwner
  )
  scope: communicationService
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: emailRoleDefinitionId
  }
}

// Lets the identity send telemetry to the component, whose local (key) auth is disabled.
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}
