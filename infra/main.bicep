// Entry point for `azd up`: creates the resource group and deploys resources.bicep into it.
// Without azd, deploy resources.bicep into an existing group (see docs/deploy.md).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; seeds resource names and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region for all regional resources. It must offer Flex Consumption: az functionapp list-flexconsumption-locations.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Resource group to create or update. Empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Identity the rotator runs as. A user-assigned identity survives deleting the app (its Graph grants and app ownerships stay).')
@allowed(['SystemAssigned', 'UserAssigned'])
param identityType string = 'SystemAssigned'

@description('owned: apps the rotator owns (Application.ReadWrite.OwnedBy). tagged: every app carrying rotationTag (Application.ReadWrite.All).')
@allowed(['owned', 'tagged'])
param rotationScope string = 'owned'

@description('ROTATION_TAG: only apps whose tags contain this exact value are in scope. Required with tagged.')
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

@description('NOTIFY_ALSO: comma-separated addresses that receive every notification.')
param notifyAlso string = ''

param remindUnmanaged bool = false

@description('NCRONTAB (6 fields, UTC) of the timer function.')
param rotationSchedule string = '0 0 3 * * *'

@description('Where Communication Services stores email data at rest.')
param emailDataLocation string = 'United States'

@description('Custom roles holding only what the code calls (vault: set, tag and read secrets; mail: send) instead of Key Vault Secrets Officer and Communication and Email Service Owner. Needs Microsoft.Authorization/roleDefinitions/write (Owner or User Access Administrator).')
param useCustomRoles bool = true

@description('Grant the Microsoft Graph app roles in this deployment (needs Privileged Role Administrator). false: an administrator grants them later, see docs/deploy.md.')
param grantGraphPermissions bool = true

@description('Comma-separated addresses that receive the rotator\'s own alerts: a run reported failures, no successful timer run for 26 hours.')
param operatorEmails string

@description('Appended to the Key Vault name (up to 7 letters or digits). Purge protection keeps a deleted vault\'s name for 90 days: after azd down, set a new salt to deploy again under the same environment name.')
@maxLength(7)
param keyVaultNameSalt string = ''

@description('Custom sender domain for notifications, e.g. notify.contoso.com. Production needs one: the Azure-managed domain sends 5 mails a minute and 10 an hour per subscription.')
param customEmailDomain string = ''

@description('Set true once the custom domain\'s DNS records are verified: the domain is then linked and becomes the sender.')
param customEmailDomainVerified bool = false

@description('Deployment time; the silence alert stays quiet for 26 hours after a deployment.')
param deployedAt string = utcNow('o')

var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'rotator-resources'
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    identityType: identityType
    rotationScope: rotationScope
    rotationTag: rotationTag
    renewBeforeDays: renewBeforeDays
    secretLifetimeDays: secretLifetimeDays
    retireAfterDays: retireAfterDays
    verifyTimeoutSeconds: verifyTimeoutSeconds
    notifyAlso: notifyAlso
    remindUnmanaged: remindUnmanaged
    rotationSchedule: rotationSchedule
    emailDataLocation: emailDataLocation
    useCustomRoles: useCustomRoles
    grantGraphPermissions: grantGraphPermissions
    operatorEmails: operatorEmails
    keyVaultNameSalt: keyVaultNameSalt
    customEmailDomain: customEmailDomain
    customEmailDomainVerified: customEmailDomainVerified
    deployedAt: deployedAt
  }
}

// azd stores these in .azure/<env>/.env; none of them is a secret.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_STORAGE_ACCOUNT_NAME string = resources.outputs.storageAccountName
output KEY_VAULT_NAME string = resources.outputs.keyVaultName
output KEY_VAULT_URL string = resources.outputs.keyVaultUrl
output ACS_ENDPOINT string = resources.outputs.acsEndpoint
output EMAIL_SENDER string = resources.outputs.emailSender
output ROTATOR_PRINCIPAL_ID string = resources.outputs.principalId
output ROTATOR_CLIENT_ID string = resources.outputs.clientId
// The rotator's API: callers ask for a token for API_IDENTIFIER_URI (or API_APP_ID) with a Rotation.* role.
output API_APP_ID string = resources.outputs.apiAppId
output API_IDENTIFIER_URI string = resources.outputs.apiIdentifierUri
output API_SERVICE_PRINCIPAL_ID string = resources.outputs.apiServicePrincipalId
// DNS records to create for customEmailDomain (empty without one).
output EMAIL_DNS_RECORDS object = resources.outputs.emailDnsRecords
