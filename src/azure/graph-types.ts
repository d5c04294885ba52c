// The shapes the Graph adapter returns (plain data, so every layer above can use them), and how Graph's objects are
// cut down to them.

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

/** Only the fields the rotator reads, defaults filled in: what Graph's pages hold beyond them is dropped at once. */
export function normalizeApp(a: AppView): AppView {
  return {
    id: a.id,
    appId: a.appId,
    displayName: a.displayName ?? '',
    tags: a.tags ?? [],
    signInAudience: a.signInAudience,
    passwordCredentials: (a.passwordCredentials ?? []).map(credentialOf),
    keyCredentials: (a.keyCredentials ?? []).map(credentialOf),
  };
}

export const credentialOf = (c: Credential): Credential => ({
  keyId: c.keyId,
  displayName: c.displayName ?? null,
  startDateTime: c.startDateTime,
  endDateTime: c.endDateTime,
});
