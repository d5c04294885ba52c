// ACS Email send operations: GET /emails/operations/{id}. A send stays Running for `runningForMs` of the cloud's
// clock (real sends take seconds) and then ends Succeeded, or Failed/EmailDropped for a dropped recipient.
import { SimHttpError, type SimRequest, type SimResponse } from '../http.js';
import type { MailMessage, MailState } from './state.js';

export type OperationStatus = 'Running' | 'Succeeded' | 'Failed';

export interface MailOperation {
  id: string;
  message: MailMessage;
  /** When the send was accepted (ms on the cloud's clock). */
  acceptedAt: number;
  polls: number;
  final: OperationStatus;
}

/** Where an operation is now: with `runningForMs` 0 it is Running on the first poll only (a real transition). */
export function statusOf(op: MailOperation, now: number, runningForMs: number): OperationStatus {
  if (runningForMs > 0) return now < op.acceptedAt + runningForMs ? 'Running' : op.final;
  return op.polls > 1 ? op.final : 'Running';
}

export function getOperationHandler(mail: MailState) {
  return (req: SimRequest): SimResponse => {
    const now = mail.now();
    const retryAfter = mail.statusWindow.check(now, mail.statusPerMinute, mail.statusPerHour).wait;
    if (retryAfter > 0) {
      mail.throttled.status++;
      throw new SimHttpError(
        429,
        'TooManyRequests',
        'The email status request limit has been reached. Please try again later.',
        { 'retry-after': String(retryAfter) },
      );
    }
    mail.statusWindow.record(now);
    const op = mail.operation(req.params[0] ?? '');
    if (!op) throw new SimHttpError(404, 'NotFound', `The operation '${req.params[0]}' was not found.`);
    op.polls++;
    const status = statusOf(op, now, mail.runningForMs);
    if (status === 'Running') {
      return { status: 200, headers: { 'retry-after': '0' }, body: { id: op.id, status } };
    }
    if (status === 'Failed') {
      return {
        status: 200,
        body: {
          id: op.id,
          status,
          error: { code: 'EmailDropped', message: 'Email was dropped after several attempts to deliver.' },
        },
      };
    }
    return { status: 200, body: { id: op.id, status } };
  };
}
