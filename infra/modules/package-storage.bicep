// The Flex Consumption deployment package, in a storage account of its own. Only the deployment identity
// (used by the platform to store and fetch the package, nothing else) may write it, and only this one
// container: the rotator's runtime identity has no role here, and data roles granted on the host storage
// account (to the rotator or to people debugging its queues) do not reach the code.
param name string
param location string
param tags object

@description('Principal id of the user-assigned identity the platform uses for the deployment package.')
param deploymentPrincipalId string

param containerName string = 'app-package'

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: { publicAccess: 'None' }
}

// Scoped to the container, not the account: the deployment identity can write nothing else.
resource packageWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, deploymentPrincipalId, storageBlobDataContributor)
  scope: container
  properties: {
    principalId: deploymentPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

output name string = account.name
output containerUrl string = '${account.properties.primaryEndpoints.blob}${container.name}'
