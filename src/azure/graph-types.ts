// The shapes the Graph adapter returns: plain data, no behaviour, so every layer above can use them.

/** A password or key credential of an app registration, as Graph lists it (no secret). */
export interface Credential {
  keyId: string;
  displayName: string | null;
  startDateTime: string;
  endDateTime: string;
}

/** An app registration as the rotator reads it. */
export interface AppView {
  /** Object id. */
  id: string;
  appId: string;
  displayName: string;
  tags: string[];
  signInAudience?: string;
  passwordCredentials: Credential[];
  keyCredentials?: Credential[];
}

export interface OwnerObject {
  '@odata.type'?: string;
  id: string;
  mail?: string | null;
  userPrincipalName?: string | null;
  displayName?: string | null;
}

export interface NewPassword extends Credential {
  secretText: string;
}
