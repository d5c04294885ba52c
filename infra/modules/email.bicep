// Communication Services + Email Service. The Azure-managed domain (DoNotReply@<guid>.azurecomm.net) works at
// once but is limited to 5 emails a minute and 10 an hour per subscription, not raisable: fine for a trial,
// not for production. A custom domain (customDomain) starts at 30 a minute and 100 an hour, raisable on
// request. Adding one takes two deployments: the first creates the domain and outputs the DNS records to
// create; once they verify, the second (customDomainVerified=true) links it and sends from it.
param communicationServiceName string
param emailServiceName string
param dataLocation string
param tags object

@description('Custom sender domain, e.g. notify.contoso.com. Empty: only the Azure-managed domain.')
param customDomain string

@description('true once the custom domain\'s DNS records are verified: link it and send from it.')
param customDomainVerified bool

var useCustomDomain = !empty(customDomain)
var sendFromCustomDomain = useCustomDomain && customDomainVerified

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: { dataLocation: dataLocation }
}

resource managedDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource customEmailDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = if (useCustomDomain) {
  parent: emailService
  name: useCustomDomain ? customDomain : 'unused'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'CustomerManaged'
    userEngagementTracking: 'Disabled'
  }
}

// The sender address DoNotReply@<customDomain>; declared so it exists whatever the domain was created with.
resource customSender 'Microsoft.Communication/emailServices/domains/senderUsernames@2023-04-01' = if (useCustomDomain) {
  parent: customEmailDomain
  name: 'donotreply'
  properties: {
    username: 'DoNotReply'
    displayName: 'Entra secret rotator'
  }
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: communicationServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    // An unverified domain cannot be linked; the managed domain stays linked as a fallback sender.
    linkedDomains: sendFromCustomDomain ? [managedDomain.id, customEmailDomain.id] : [managedDomain.id]
  }
}

output communicationServiceName string = communicationService.name
output endpoint string = 'https://${communicationService.properties.hostName}'
output senderAddress string = sendFromCustomDomain
  ? '${customSender!.properties.username}@${customEmailDomain!.properties.mailFromSenderDomain}'
  : 'DoNotReply@${managedDomain.properties.mailFromSenderDomain}'
// The records to create at the DNS host of customDomain (Domain, SPF and DMARC as TXT, DKIM and DKIM2 as
// CNAME); each entry has type, name, value and ttl. Empty without a custom domain.
output customDomainDnsRecords object = useCustomDomain ? customEmailDomain!.properties.verificationRecords : {}
