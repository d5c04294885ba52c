import { describe, expect, it } from 'vitest';
import { recipientsStillOwed } from './invariants.js';

describe('told-once: whom a rotation must have reached', () => {
  const rotation = {
    recipients: ['owner1@contoso.com', 'owner2@contoso.com', 'team@contoso.com', 'ops@contoso.com'],
    owners: ['owner1@contoso.com', 'owner2@contoso.com'],
  };

  it('every recipient while the owners stay', () => {
    expect(recipientsStillOwed(rotation, ['owner1@contoso.com', 'owner2@contoso.com'])).toEqual(
      rotation.recipients,
    );
  });

  // Seed 1 day 283 (stop 21): owner20 was removed the day after the rotation, before the held notice was sent;
  // the product rightly did not tell him, and the check called it a notice never told.
  it('not an owner removed before being told; tag and NOTIFY_ALSO recipients still', () => {
    expect(recipientsStillOwed(rotation, ['owner1@contoso.com', 'owner3@contoso.com'])).toEqual([
      'owner1@contoso.com',
      'team@contoso.com',
      'ops@contoso.com',
    ]);
  });

  it('no owner of a deleted app', () => {
    expect(recipientsStillOwed(rotation, [])).toEqual(['team@contoso.com', 'ops@contoso.com']);
  });
});
