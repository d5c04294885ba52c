// The vault that receives every rotated secret. RBAC only (no access policies); purge protection keeps
// a deleted secret recoverable for the whole retention period, even from someone holding Owner.
// Every data-plane access (AuditEvent: who read or wrote which secret) goes to the Log Analytics workspace.
param name string
param location string
param tags object

@description('Resource id of the Log Analytics workspace that receives the audit log.')
param workspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource audit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [{ category: 'AuditEvent', enabled: true }]
  }
}

output name string = vault.name
// No trailing slash, as in contract.md's example (properties.vaultUri ends with one).
output uri string = 'https://${vault.name}${environment().suffixes.keyvaultDns}'
