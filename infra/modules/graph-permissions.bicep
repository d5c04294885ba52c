// Microsoft Graph application permissions (app roles) for the rotator's managed identity.
// Deploying this needs an account that may grant app roles: Privileged Role Administrator or
// Global Administrator. Graph Bicep deploys only in the public cloud.
extension microsoftGraphV1

@description('Object id of the managed identity\'s service principal (identity.principalId).')
param principalId string

@allowed(['owned', 'tagged'])
param rotationScope string

// owned: OwnedBy can add/remove passwords only on apps whose owners include the rotator (and list all apps).
// tagged: apps are chosen by tag, not ownership, so writing them needs Application.ReadWrite.All.
// User.ReadBasic.All: owners' mail / userPrincipalName for notifications.
var graphAppRoles = [
  rotationScope == 'tagged' ? 'Application.ReadWrite.All' : 'Application.ReadWrite.OwnedBy'
  'User.ReadBasic.All'
]

resource graphSp 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000' // Microsoft Graph
}

// Role ids are looked up by value on the Graph service principal rather than hard-coded.
resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for role in graphAppRoles: {
    principalId: principalId
    resourceId: graphSp.id
    appRoleId: filter(graphSp.appRoles, r => r.value == role)[0].id
  }
]

output grantedRoles array = graphAppRoles
