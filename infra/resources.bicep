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

param useCustomRoles bool = true

param grantGraphPermissions bool = true

@description('Comma-separated addresses that receive the rotator\'s own alerts (failures, no timer run for 26 h).')
param operatorEmails string

@description('Appended to the Key Vault name. A purged-protected vault keeps its name for 90 days after deletion; change the salt to deploy a new vault in that time.')
@maxLength(7)
param keyVaultNameSalt string = ''

@description('Custom sender domain for notification email (production: the Azure-managed domain sends 10 mails an hour).')
param customEmailDomain string = ''

@description('true once customEmailDomain\'s DNS records are verified: link it and send from it.')
param customEmailDomainVerified bool = false

@description('Deployment time; the silence alert stays quiet for 26 hours after it.')
param deployedAt string = utcNow('o')

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName }
var useUserAssigned = identityType == 'UserAssigned'

// A tagged scope without a tag would deploy an app that fails every run: stop the deployment instead.
var checkedRotationTag = rotationScope == 'tagged' && empty(rotationTag)
  ? fail('rotationScope=tagged needs rotationTag (azd env set ROTATION_TAG <value>): only apps carrying that tag are rotated.')
  : rotationTag

var keyVaultName = empty(keyVaultNameSalt) ? 'kv-${resourceToken}' : 'kv-${resourceToken}-${keyVaultNameSalt}'

resource userIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (useUserAssigned) {
  name: 'id-rotator-${resourceToken}'
  location: location
  tags: tags
}

// Used by the platform for the deployment package only (see package-storage.bicep).
resource deploymentIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-deploy-${resourceToken}'
  location: location
  tags: tags
}

module packageStorage 'modules/package-storage.bicep' = {
  name: 'package-storage'
  params: {
    name: 'stpkg${resourceToken}'
    location: location
    tags: tags
    deploymentPrincipalId: deploymentIdentity.properties.principalId
  }
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
    name: keyVaultName
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
  }
}

module email 'modules/email.bicep' = {
  name: 'email'
  params: {
    communicationServiceName: 'acs-${resourceToken}'
    emailServiceName: 'ecs-${resourceToken}'
    dataLocation: emailDataLocation
    tags: tags
    customDomain: customEmailDomain
    customDomainVerified: customEmailDomainVerified
  }
}

module apiApp 'modules/api-app.bicep' = {
  name: 'api-app'
  params: {
    uniqueName: 'entra-secret-rotator-api-${resourceToken}'
    displayName: 'Entra secret rotator API (${environmentName})'
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
    // Accepted token audiences for the HTTP endpoints: the API's appId (v2 tokens) and its identifier URI.
    API_AUDIENCE: '${apiApp.outputs.appId},${apiApp.outputs.identifierUri}'
  },
  empty(checkedRotationTag) ? {} : { ROTATION_TAG: checkedRotationTag },
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
    deploymentContainerUrl: packageStorage.outputs.containerUrl
    deploymentIdentityId: deploymentIdentity.id
    workspaceId: monitoring.outputs.workspaceId
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
    useCustomRoles: useCustomRoles
    resourceToken: resourceToken
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    namePrefix: 'rotator-${resourceToken}'
    location: location
    tags: tags
    appInsightsId: monitoring.outputs.appInsightsId
    operatorEmails: operatorEmails
    deployedAt: deployedAt
  }
}

// Last, so the new identity has had the whole deployment to replicate in Entra: a grant to a just-created
// identity can still fail with "Not a valid reference update" (msgraph-bicep-types#193); deploying again
// then succeeds (docs/deploy.md#if-the-first-deployment-fails-at-the-graph-step).
module graph 'modules/graph-permissions.bicep' = if (grantGraphPermissions) {
  name: 'graph-permissions'
  dependsOn: [roles, alerts, vault, email]
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
output emailDnsRecords object = email.outputs.customDomainDnsRecords
output apiAppId string = apiApp.outputs.appId
output apiIdentifierUri string = apiApp.outputs.identifierUri
output apiServicePrincipalId string = apiApp.outputs.servicePrincipalId
output principalId string = principalId
output clientId string = useUserAssigned ? userIdentity!.properties.clientId : ''
