// The rotator's own API as an Entra app registration (Microsoft Graph Bicep extension): callers of
// POST /api/rotate, GET /api/scan and the runs endpoint present an access token for it carrying one of its
// app roles (contract.md §8). Roles are assigned to users, groups or other apps' service principals by an
// administrator (docs/deploy.md#who-may-call-the-http-endpoints); nobody holds one after deployment.
extension microsoftGraphV1

@description('uniqueName (the Graph Bicep alternate key) of the API\'s app registration.')
param uniqueName string

param displayName string

// Fixed ids, so redeploying never replaces a role (an assignment refers to its id).
var roles = [
  {
    value: 'Rotation.Read'
    displayName: 'Read rotation state'
    description: 'GET /api/scan and the runs endpoint: inventory and run history, no changes.'
  }
  {
    value: 'Rotation.Rotate'
    displayName: 'Run rotations'
    description: 'POST /api/rotate: rotate the apps that are due, or a dry run.'
  }
  {
    value: 'Rotation.Force'
    displayName: 'Force and emergency rotations'
    description: 'In addition to Rotation.Rotate: force, all and revokeSuperseded on POST /api/rotate.'
  }
]

var tenantId = tenant().tenantId

// api://<tenantId>/<name> is one of Entra's secure identifier URI forms and, unlike api://<appId>, is known
// before the app exists. Version 2 access tokens carry the appId as their audience whichever URI the caller
// asked for, so API_AUDIENCE lists both.
var identifierUri = 'api://${tenantId}/${uniqueName}'

// Lets a signed-in operator get a token for the API (e.g. from the Azure CLI, after consent); the roles
// claim, not this scope, decides what the caller may do. No preAuthorizedApplications: Graph refuses a
// pre-authorization that names a scope created in the same request (microsoft-graph-docs#20177), and a
// template sends the application in one request. docs/deploy.md gives the one-time consent command.
var userImpersonationScopeId = guid(tenantId, uniqueName, 'user_impersonation')

resource api 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  identifierUris: [identifierUri]
  api: {
    requestedAccessTokenVersion: 2
    oauth2PermissionScopes: [
      {
        id: userImpersonationScopeId
        value: 'user_impersonation'
        type: 'User'
        isEnabled: true
        adminConsentDisplayName: 'Call the secret rotator'
        adminConsentDescription: 'Call the secret rotator\'s HTTP endpoints as the signed-in user; what is allowed depends on the user\'s Rotation.* roles.'
        userConsentDisplayName: 'Call the secret rotator'
        userConsentDescription: 'Call the secret rotator\'s HTTP endpoints as you; what is allowed depends on your Rotation.* roles.'
      }
    ]
  }
  appRoles: [
    for role in roles: {
      id: guid(tenantId, uniqueName, role.value)
      value: role.value
      displayName: role.displayName
      description: role.description
      allowedMemberTypes: ['User', 'Application']
      isEnabled: true
    }
  ]
}

// Without a service principal no token can be issued for the API. Assignment required: Entra issues
// tokens only to users and apps that were given one of the roles.
resource apiSp 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: api.appId
  appRoleAssignmentRequired: true
}

output appId string = api.appId
output identifierUri string = identifierUri
output servicePrincipalId string = apiSp.id
