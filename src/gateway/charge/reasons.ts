import type { ErrorCode, TallyError } from '../../lib/errors.ts';
import type { LimitKind } from '../reservations.ts';

// Why a request was charged what it was: a code (with its parameters) chosen
// by settle.ts, rendered to the text stored in the log row's charge_reason
// (what the usage page and the billing doctor show) in one place, here.

export type ChargeReason =
  // charged
  | { code: 'completed_response' }
  | { code: 'completed_response_counted'; body: 'sse' | 'unreadable' }
  | { code: 'completed_stream' }
  | { code: 'output_before_client_disconnect' }
  | { code: 'output_before_upstream_break' }
  // not charged
  | { code: 'client_disconnected_before_output' }
  | { code: 'upstream_broke_before_output' }
  | { code: 'zero_cost' }
  | { code: 'refused'; error: ErrorCode }
  | { code: 'insufficient_balance' }
  | { code: 'budget_exceeded' }
  | { code: 'rate_limited' }
  | { code: 'upstream_failed_before_output'; error: ErrorCode }
  | { code: 'request_failed'; error: ErrorCode }
  // not charged: media (media/bill.ts)
  | { code: 'media_units_unknown' }
  | { code: 'media_broken_off' };

export type ChargeReasonCode = ChargeReason['code'];

/** Created once: the reasons without parameters are shared by every request. */
export const REASON = {
  completedResponse: { code: 'completed_response' },
  countedSse: { code: 'completed_response_counted', body: 'sse' },
  countedUnreadable: { code: 'completed_response_counted', body: 'unreadable' },
  completedStream: { code: 'completed_stream' },
  outputBeforeClientDisconnect: { code: 'output_before_client_disconnect' },
  outputBeforeUpstreamBreak: { code: 'output_before_upstream_break' },
  clientDisconnectedBeforeOutput: { code: 'client_disconnected_before_output' },
  upstreamBrokeBeforeOutput: { code: 'upstream_broke_before_output' },
  zeroCost: { code: 'zero_cost' },
  mediaUnitsUnknown: { code: 'media_units_unknown' },
  mediaBrokenOff: { code: 'media_broken_off' },
} as const satisfies Record<string, ChargeReason>;

const NOT_CHARGED = new Set<ChargeReasonCode>([
  'client_disconnected_before_output',
  'upstream_broke_before_output',
  'zero_cost',
  'refused',
  'insufficient_balance',
  'budget_exceeded',
  'rate_limited',
  'upstream_failed_before_output',
  'request_failed',
  'media_units_unknown',
  'media_broken_off',
]);

/** Whether the reason says the request is not charged (whatever the usage). */
export function isNotCharged(r: ChargeReason): boolean {
  return NOT_CHARGED.has(r.code);
}

/** The reason a request that failed with `err` (before any output) was not charged. */
export function reasonForError(err: TallyError): ChargeReason {
  if (err.code === 'client_closed_request') return REASON.clientDisconnectedBeforeOutput;
  if (err.status === 401 || err.status === 403) return { code: 'refused', error: err.code };
  if (err.code === 'budget_exceeded') return { code: 'budget_exceeded' };
  if (err.status === 402) return { code: 'insufficient_balance' };
  if (err.status === 429) return { code: 'rate_limited' };
  if (err.status >= 500) return { code: 'upstream_failed_before_output', error: err.code };
  return { code: 'request_failed', error: err.code };
}

function reasonText(r: ChargeReason): string {
  switch (r.code) {
    case 'completed_response':
      return 'charged for the completed response';
    case 'completed_response_counted':
      return `charged for the completed response (an ${r.body === 'sse' ? 'SSE' : 'unreadable'} body, counted)`;
    case 'completed_stream':
      return 'charged for the completed stream';
    case 'output_before_client_disconnect':
      return 'charged for the output produced before the client disconnected';
    case 'output_before_upstream_break':
      return 'charged for the output produced before the upstream stream broke';
    case 'client_disconnected_before_output':
      return 'not charged: the client disconnected before any output';
    case 'upstream_broke_before_output':
      return 'not charged: the upstream stream broke before any output';
    case 'zero_cost':
      return 'not charged: zero cost';
    case 'refused':
      return `not charged: request refused (${r.error})`;
    case 'insufficient_balance':
      return 'not charged: insufficient balance';
    case 'budget_exceeded':
      return 'not charged: budget exceeded';
    case 'rate_limited':
      return 'not charged: rate limited';
    case 'upstream_failed_before_output':
      return `not charged: upstream failed before any output (${r.error})`;
    case 'request_failed':
      return `not charged: ${r.error}`;
    case 'media_units_unknown':
      return 'not charged: the upstream answer did not say how much it produced (no audio duration, no usage)';
    case 'media_broken_off':
      return 'not charged: the upstream broke off the audio before it finished';
  }
}

/**
 * The log row's charge_reason: the reason, and for a charged request whose
 * max_tokens quote.ts lowered to what the payer could afford, that too.
 */
export function renderChargeReason(r: ChargeReason, cappedBy: LimitKind | null = null, cappedTo = 0): string {
  const text = reasonText(r);
  if (!cappedBy) return text;
  const by = cappedBy === 'key' ? 'key limit' : cappedBy === 'budget' ? 'budget' : 'wallet balance';
  return `${text}; max_tokens capped to ${cappedTo} by the ${by}`;
}
