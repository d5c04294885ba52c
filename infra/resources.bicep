// Everything the rotator needs, in one resource group. main.bicep calls this for azd; without azd:
//   az deployment group create -g <group> -f infra/resources.bicep -p environmentName=<name>
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Seeds resource names and the azd-env-name tag.')
param environmentName string

param location string = resourceGroup().location

@allowed(['SystemAssigned', 'UserAssigned'])
param identityType string = 'SystemAssigned'

@allowed(['owned', 'tagged'])
param rotationScope string = 'owned'

param rotationTag string = ''

@minValue(1)
@maxValue(365)
param renewBeforeDays int = 30

@minValue(1)
@maxValue(730)
param secretLifetimeDays int = 180

@minValue(1)
@maxValue(365)
param retireAfterDays int = 7

@minValue(1)
@maxValue(3600)
param verifyTimeoutSeconds int = 300

param notifyAlso string = ''

param remindUnmanaged bool = false

param rotationSchedule string = '0 0 3 * * *'

param emailDataLocation string = 'United States'

param useCustomEmailSenderRole bool = false

param grantGraphPermissions bool = true

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName }
var useUserAssigned = identityType == 'UserAssigned'

resource userIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (useUserAssigned) {
  name: 'id-rotator-${resourceToken}'
  location: location
  tags: tags
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    appInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
  }
}

module email 'modules/email.bicep' = {
  name: 'email'
  params: {
    communicationServiceName: 'acs-${resourceToken}'
    emailServiceName: 'ecs-${resourceToken}'
    dataLocation: emailDataLocation
    tags: tags
  }
}

// Contract settings (contract.md §1). Optional ones are left out when empty so the app sees them unset.
var rotatorSettings = union(
  {
    KEY_VAULT_URL: vault.outputs.uri
    ACS_ENDPOINT: email.outputs.endpoint
    EMAIL_SENDER: email.outputs.senderAddress
    ROTATION_SCOPE: rotationScope
    RENEW_BEFORE_DAYS: string(renewBeforeDays)
    SECRET_LIFETIME_DAYS: string(secretLifetimeDays)
    RETIRE_AFTER_DAYS: string(retireAfterDays)
    VERIFY_TIMEOUT_SECONDS: string(verifyTimeoutSeconds)
    // string(bool) would give 'True'; the contract's values are lower case.
    REMIND_UNMANAGED: remindUnmanaged ? 'true' : 'false'
    ROTATION_SCHEDULE: rotationSchedule
  },
  empty(rotationTag) ? {} : { ROTATION_TAG: rotationTag },
  empty(notifyAlso) ? {} : { NOTIFY_ALSO: notifyAlso }
)

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: 'func-rotator-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsName: monitoring.outputs.appInsightsName
    identityType: identityType
    userAssignedIdentityId: useUserAssigned ? userIdentity.id : ''
    userAssignedClientId: useUserAssigned ? userIdentity!.properties.clientId : ''
    appSettings: rotatorSettings
  }
}

var principalId = useUserAssigned ? userIdentity!.properties.principalId : functionApp.outputs.systemPrincipalId

module roles 'modules/role-assignments.bicep' = {
  name: 'role-assignments'
  params: {
    principalId: principalId
    storageAccountName: storage.outputs.name
    keyVaultName: vault.outputs.name
    communicationServiceName: email.outputs.communicationServiceName
    appInsightsName: monitoring.outputs.appInsightsName
    useCustomEmailSenderRole: useCustomEmailSenderRole
  }
}

module graph 'modules/graph-permissions.bicep' = if (grantGraphPermissions) {
  name: 'graph-permissions'
  params: {
    principalId: principalId
    rotationScope: rotationScope
  }
}

output functionAppName string = functionApp.outputs.name
output storageAccountName string = storage.outputs.name
output keyVaultName string = vault.outputs.name
output keyVaultUrl string = vault.outputs.uri
output acsEndpoint string = email.outputs.endpoint
output emailSender string = email.outputs.senderAddress
output principalId string = principalId
output clientId string = useUserAssigned ? userIdentity!.properties.clientId : ''
