// A rotation's notice is recorded with its secret: the Key Vault version it stores carries the tag notice=owed
// (written in the same call, so no crash can fall between the two), and the tag is cleared once the notice went out
// or is held in the pending store (told.ts). A version still tagged after its run ended is taken over by the next
// whole-scope run (recover.ts). At least once, and told once: a notice is cleared only when it is out or held, and
// held notices are deduplicated per recipient (noticeKey).
import type { Settings } from '../settings.js';

export const NOTICE_TAG = 'notice';
export const NOTICE_OWED = 'owed';
/** Set (`true`) with notice=owed by a run that could not read the app's owners: it told its other recipients (or
 *  held or failed their message), none of its owners. A message of that run to an owner was about other apps, so
 *  the takeover (recover.ts) tells the owners instead of looking such a message up. */
export const NOTICE_OWNERS_UNTOLD_TAG = 'noticeOwnersUntold';

export function notificationsConfigured(settings: Settings): boolean {
  return !!(settings.emailSender && (settings.acsEndpoint || settings.acsConnectionString));
}
