// Who may take over an owed notice (src/notify/claim.ts): read from the tags of the secret's latest version.
import { describe, expect, it } from 'vitest';
import { CLAIMED_AT_TAG, CLAIMED_BY_TAG, claimable, NOTICE_TAKEOVER_MS } from '../../src/notify/claim.js';

const now = new Date('2027-03-01T12:00:00Z');
const owed = { keyId: 'k1', runId: 'dead-run', notice: 'owed' };
const claimedBy = (runId: string, msAgo: number) => ({
  ...owed,
  [CLAIMED_BY_TAG]: runId,
  [CLAIMED_AT_TAG]: new Date(now.getTime() - msAgo).toISOString(),
});

describe('claimable', () => {
  it('an owed notice of this credential, claimed by nobody', () => {
    expect(claimable(owed, 'k1', 'me', now)).toBe(true);
  });

  it('not once told (the tag cleared), nor for another credential (the secret was rotated since)', () => {
    expect(claimable({ keyId: 'k1', runId: 'dead-run' }, 'k1', 'me', now)).toBe(false);
    expect(claimable(owed, 'k2', 'me', now)).toBe(false);
    expect(claimable(undefined, 'k1', 'me', now)).toBe(false);
  });

  it('not while another run claimed it recently; again once that run is surely over (it died holding it)', () => {
    expect(claimable(claimedBy('other', 60_000), 'k1', 'me', now)).toBe(false);
    expect(claimable(claimedBy('other', NOTICE_TAKEOVER_MS - 1), 'k1', 'me', now)).toBe(false);
    expect(claimable(claimedBy('other', NOTICE_TAKEOVER_MS), 'k1', 'me', now)).toBe(true);
  });

  it("this run's own claim, and a claim without a readable time, do not stop it", () => {
    expect(claimable(claimedBy('me', 0), 'k1', 'me', now)).toBe(true);
    expect(
      claimable({ ...owed, [CLAIMED_BY_TAG]: 'other', [CLAIMED_AT_TAG]: 'garbage' }, 'k1', 'me', now),
    ).toBe(true);
  });
});
