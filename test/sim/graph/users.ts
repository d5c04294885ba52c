// microsoft.graph.user as the owner routes show it: the default properties of a user (no /users route is modelled).
import type { SimUser } from '../tenant.js';

export const USER_DEFAULT = [
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
];

export function userProperties(u: SimUser): Record<string, unknown> {
  return {
    businessPhones: [],
    displayName: u.displayName,
    givenName: null,
    jobTitle: null,
    mail: u.mail,
    mobilePhone: null,
    officeLocation: null,
    preferredLanguage: null,
    surname: null,
    userPrincipalName: u.userPrincipalName,
  };
}
