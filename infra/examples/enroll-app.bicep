// Enroll an app registration in rotation (ROTATION_SCOPE=owned): make the rotator's identity one of its owners.
// Use this for apps whose registration is declared in Bicep (addressed by uniqueName). For any other
// app, the CLI does the same:  az ad app owner add --id <appId> --owner-object-id <rotatorPrincipalId>
//
//   az deployment group create -g <any group> -f infra/examples/enroll-app.bicep \
//     -p appUniqueName=billing-api appDisplayName='Billing API' rotatorPrincipalId=<ROTATOR_PRINCIPAL_ID>
//
// The deploying account must be allowed to change the app's owners (an owner of the app, or
// Application Administrator / Cloud Application Administrator).
extension microsoftGraphV1

@description('uniqueName of the app registration (the Graph Bicep alternate key).')
param appUniqueName string

param appDisplayName string

@description('ROTATOR_PRINCIPAL_ID from `azd env get-values` (the managed identity\'s object id).')
param rotatorPrincipalId string

@description('The app\'s complete tag list (it replaces the current one), with any rotation:* policy tags (contract.md §2).')
param rotationTags array = []

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: appUniqueName
  displayName: appDisplayName
  tags: rotationTags
  owners: {
    // 'append' (the default) adds the rotator and keeps the people who already own the app.
    relationshipSemantics: 'append'
    relationships: [rotatorPrincipalId]
  }
}

output appId string = app.appId
