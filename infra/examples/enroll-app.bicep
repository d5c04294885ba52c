// Enroll an app registration in rotation (ROTATION_SCOPE=owned): make the rotator's identity one of its owners,
// and make sure the app has a service principal in this tenant (without one, Entra refuses every sign-in with
// AADSTS7000229, so no new secret of the app can ever be proven and the rotator reports it failed).
// Use this for apps whose registration is declared in Bicep (addressed by uniqueName). For any other
// app, the CLI does the same:
//   az ad app owner add --id <appId> --owner-object-id <rotatorPrincipalId>
//   az ad sp show --id <appId> || az ad sp create --id <appId>
//
//   az deployment group create -g <any group> -f infra/examples/enroll-app.bicep \
//     -p appUniqueName=billing-api appDisplayName='Billing API' rotatorPrincipalId=<ROTATOR_PRINCIPAL_ID>
//
// The deploying account must be allowed to change the app's owners (an owner of the app, or
// Application Administrator / Cloud Application Administrator).
//
// Tags are deliberately not declared here: the Graph extension updates only the properties a template
// names, so the app's tags (and its rotation:* policy) stay as they are. Declaring `tags: []` would wipe
// them. Keep the tags in the template that owns the app, or set them with Graph (docs/deploy.md#enroll-an-app).
extension microsoftGraphV1

@description('uniqueName of the app registration (the Graph Bicep alternate key).')
param appUniqueName string

param appDisplayName string

@description('ROTATOR_PRINCIPAL_ID from `azd env get-values` (the managed identity\'s object id).')
param rotatorPrincipalId string

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: appUniqueName
  displayName: appDisplayName
  owners: {
    // 'append' (the default) adds the rotator and keeps the people who already own the app.
    relationshipSemantics: 'append'
    relationships: [rotatorPrincipalId]
  }
}

// Created if missing, left as it is if the app already has one (the appId is its alternate key).
resource appSp 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

output appId string = app.appId
output servicePrincipalId string = appSp.id
