// Errors of the HBONE client. Codes are stable (logs, metrics and tests key on them) and come
// from the outcome table (connection-outcome.ts), the one place where an HTTP status on the wire
// maps to a code and back.
import { MeshError } from '@ambient/api';
import { connectionOutcomes, outcomeForStatus, type HboneErrorCode, type HboneOutcome } from './connection-outcome.ts';

export type { HboneErrorCode } from './connection-outcome.ts';

export class HboneError extends MeshError<HboneErrorCode> {
  /** The row of the outcome table this error stands for. */
  readonly outcome: HboneOutcome;
  /** The status the peer answered, when it answered one. */
  readonly status: number | undefined;
  constructor(outcome: HboneOutcome, message: string, options?: { cause?: unknown; status?: number }) {
    super(connectionOutcomes[outcome].errorCode, message, options);
    this.outcome = outcome;
    this.status = options?.status;
  }
}

export function hboneCodeForStatus(status: number): HboneErrorCode {
  return connectionOutcomes[outcomeForStatus(status)].errorCode;
}

/** The error a client raises for a CONNECT answered with a non-200 status. */
export function hboneStatusError(status: number, authority: string): HboneError {
  return new HboneError(outcomeForStatus(status), `hbone connect to ${authority} answered ${status}`, { status });
}
