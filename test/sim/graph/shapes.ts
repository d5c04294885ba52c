// The JSON shapes of microsoft.graph.application and microsoft.graph.servicePrincipal: the modelled properties from
// the tenant, the rest as Graph's empty values. Read by the applications, service-principal and owner routes.
import type { SimApplication, SimServicePrincipal, Tenant } from '../tenant.js';

function passwordResource(p: SimApplication['passwordCredentials'][number]) {
  // secretText is returned by addPassword only; reads show null like the real service.
  return {
    customKeyIdentifier: null,
    displayName: p.displayName,
    endDateTime: p.endDateTime,
    hint: p.hint,
    keyId: p.keyId,
    secretText: null,
    startDateTime: p.startDateTime,
  };
}

function keyResource(k: SimApplication['keyCredentials'][number]) {
  // The key value is never in a list response unless selected; the simulator keeps no key material.
  return { ...k, key: null };
}

export const APP_PROPERTIES: Record<string, (app: SimApplication, tenant: Tenant) => unknown> = {
  id: (a) => a.id,
  deletedDateTime: () => null,
  addIns: () => [],
  api: () => ({
    acceptMappedClaims: null,
    knownClientApplications: [],
    oauth2PermissionScopes: [],
    preAuthorizedApplications: [],
    requestedAccessTokenVersion: null,
  }),
  appId: (a) => a.appId,
  applicationTemplateId: () => null,
  appRoles: () => [],
  certification: () => null,
  createdDateTime: (a) => a.createdDateTime,
  defaultRedirectUri: () => null,
  description: () => null,
  disabledByMicrosoftStatus: () => null,
  displayName: (a) => a.displayName,
  groupMembershipClaims: () => null,
  identifierUris: () => [],
  info: () => ({
    logoUrl: null,
    marketingUrl: null,
    privacyStatementUrl: null,
    supportUrl: null,
    termsOfServiceUrl: null,
  }),
  isDeviceOnlyAuthSupported: () => null,
  isFallbackPublicClient: () => null,
  keyCredentials: (a) => a.keyCredentials.map(keyResource),
  logo: () => null,
  nativeAuthenticationApisEnabled: () => null,
  notes: () => null,
  oauth2RequirePostResponse: () => false,
  optionalClaims: () => null,
  parentalControlSettings: () => ({ countriesBlockedForMinors: [], legalAgeGroupRule: 'Allow' }),
  passwordCredentials: (a) => a.passwordCredentials.map(passwordResource),
  publicClient: () => ({ redirectUris: [] }),
  publisherDomain: (_a, t) => `${t.tenantId.slice(0, 8)}.onmicrosoft.com`,
  requestSignatureVerification: () => null,
  requiredResourceAccess: () => [],
  samlMetadataUrl: () => null,
  serviceManagementReference: () => null,
  servicePrincipalLockConfiguration: () => null,
  signInAudience: (a) => a.signInAudience,
  spa: () => ({ redirectUris: [] }),
  tags: (a) => [...a.tags],
  tokenEncryptionKeyId: () => null,
  uniqueName: () => null,
  verifiedPublisher: () => ({ displayName: null, verifiedPublisherId: null, addedDateTime: null }),
  web: () => ({
    homePageUrl: null,
    logoutUrl: null,
    redirectUris: [],
    implicitGrantSettings: { enableAccessTokenIssuance: false, enableIdTokenIssuance: false },
  }),
};

export const SP_PROPERTIES: Record<string, (sp: SimServicePrincipal, tenant: Tenant) => unknown> = {
  id: (s) => s.id,
  deletedDateTime: () => null,
  accountEnabled: () => true,
  alternativeNames: () => [],
  appDisplayName: (s) => s.displayName,
  appId: (s) => s.appId,
  appOwnerOrganizationId: (_s, t) => t.tenantId,
  appRoleAssignmentRequired: () => false,
  appRoles: () => [],
  description: () => null,
  displayName: (s) => s.displayName,
  homepage: () => null,
  keyCredentials: () => [],
  notes: () => null,
  passwordCredentials: () => [],
  preferredSingleSignOnMode: () => null,
  replyUrls: () => [],
  servicePrincipalNames: (s) => [s.appId],
  servicePrincipalType: (s) => s.servicePrincipalType,
  signInAudience: () => 'AzureADMyOrg',
  tags: () => [],
};

/** Every property of an object, from one of the tables above. */
export function fullShape<T>(
  table: Record<string, (item: T, tenant: Tenant) => unknown>,
  item: T,
  tenant: Tenant,
): Record<string, unknown> {
  const full: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(table)) full[k] = f(item, tenant);
  return full;
}
