// Flex Consumption (FC1) Linux app on Node 22. It reaches storage, Key Vault, Graph, ACS and
// Application Insights with its managed identity only: no keys or connection secrets in settings.
// The platform stores and fetches the deployment package with a separate deployment identity; basic-auth
// publishing (FTP, SCM with user name and password) is off, so deployments need an Entra identity.
param name string
param planName string
param location string
param tags object
param storageAccountName string

@description('Blob container URL that holds the deployment package.')
param deploymentContainerUrl string

@description('Resource id of the user-assigned identity that writes and reads the deployment package, nothing else.')
param deploymentIdentityId string

@description('Resource id of the Log Analytics workspace that receives the function logs.')
param workspaceId string

param appInsightsName string

@allowed(['SystemAssigned', 'UserAssigned'])
param identityType string

@description('Resource id of the user-assigned identity; empty for SystemAssigned.')
param userAssignedIdentityId string

@description('Client id of the user-assigned identity; empty for SystemAssigned.')
param userAssignedClientId string

@description('The rotator\'s own settings (contract.md §1).')
param appSettings object

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

param maximumInstanceCount int = 100

var userAssigned = identityType == 'UserAssigned'

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the app to deploy `rotator` to by this tag.
  tags: union(tags, { 'azd-service-name': 'rotator' })
  kind: 'functionapp,linux'
  // The deployment identity is attached only so the platform can use it for the package; the rotator's
  // code signs in as the system-assigned identity, or as the one named by AZURE_CLIENT_ID.
  identity: userAssigned
    ? {
        type: 'UserAssigned'
        userAssignedIdentities: { '${userAssignedIdentityId}': {}, '${deploymentIdentityId}': {} }
      }
    : {
        type: 'SystemAssigned, UserAssigned'
        userAssignedIdentities: { '${deploymentIdentityId}': {} }
      }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: deploymentIdentityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Identity-based host storage (the queue trigger's `connection: 'AzureWebJobsStorage'` resolves these too).
var storageSettings = union(
  {
    AzureWebJobsStorage__accountName: storageAccountName
    AzureWebJobsStorage__credential: 'managedidentity'
  },
  userAssigned ? { AzureWebJobsStorage__clientId: userAssignedClientId } : {}
)

// DefaultAzureCredential reads AZURE_CLIENT_ID to pick the user-assigned identity; a system-assigned one needs nothing.
var identitySettings = userAssigned ? { AZURE_CLIENT_ID: userAssignedClientId } : {}

var monitoringSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: userAssigned
    ? 'ClientId=${userAssignedClientId};Authorization=AAD'
    : 'Authorization=AAD'
}

// Deployments go through Entra (azd, az, func use tokens); no publishing user name and password exists.
resource basicAuthPolicies 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = [
  for policy in ['ftp', 'scm']: {
    parent: site
    name: policy
    properties: { allow: false }
  }
]

resource functionLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'function-logs-to-log-analytics'
  scope: site
  properties: {
    workspaceId: workspaceId
    logs: [{ category: 'FunctionAppLogs', enabled: true }]
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(appSettings, storageSettings, identitySettings, monitoringSettings)
}

output name string = site.name
// Empty for a user-assigned identity (its principal id comes from the identity resource).
output systemPrincipalId string = userAssigned ? '' : site.identity.principalId
