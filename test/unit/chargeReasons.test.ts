import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { TallyError } from '../../src/lib/errors.ts';
import { REASON, isNotCharged, reasonForError, renderChargeReason } from '../../src/gateway/charge/reasons.ts';

// A request's log row says in words whether it was charged and why
// (charge_reason: the usage page and the billing doctor show it). The relay
// decides a typed reason; these are the words each one is stored as.

describe('charge reasons', () => {
  test('each reason renders to the text the log rows have always carried', () => {
    assert.equal(renderChargeReason(REASON.completedResponse), 'charged for the completed response');
    assert.equal(renderChargeReason(REASON.countedSse), 'charged for the completed response (an SSE body, counted)');
    assert.equal(renderChargeReason(REASON.countedUnreadable), 'charged for the completed response (an unreadable body, counted)');
    assert.equal(renderChargeReason(REASON.completedStream), 'charged for the completed stream');
    assert.equal(renderChargeReason(REASON.outputBeforeClientDisconnect), 'charged for the output produced before the client disconnected');
    assert.equal(renderChargeReason(REASON.outputBeforeUpstreamBreak), 'charged for the output produced before the upstream stream broke');
    assert.equal(renderChargeReason(REASON.clientDisconnectedBeforeOutput), 'not charged: the client disconnected before any output');
    assert.equal(renderChargeReason(REASON.upstreamBrokeBeforeOutput), 'not charged: the upstream stream broke before any output');
    assert.equal(renderChargeReason(REASON.zeroCost), 'not charged: zero cost');
  });

  test('a request whose max_tokens was lowered to what the payer could afford says so, and by which limit', () => {
    assert.equal(renderChargeReason(REASON.completedStream, 'wallet', 37), 'charged for the completed stream; max_tokens capped to 37 by the wallet balance');
    assert.equal(renderChargeReason(REASON.completedResponse, 'key', 5), 'charged for the completed response; max_tokens capped to 5 by the key limit');
  });

  test('a failed request is not charged, and the reason names the failure', () => {
    const text = (code: ConstructorParameters<typeof TallyError>[0]) => renderChargeReason(reasonForError(new TallyError(code, 'x')));
    assert.equal(text('invalid_api_key'), 'not charged: request refused (invalid_api_key)');
    assert.equal(text('model_not_allowed'), 'not charged: request refused (model_not_allowed)');
    assert.equal(text('insufficient_balance'), 'not charged: insufficient balance');
    assert.equal(text('rate_limited'), 'not charged: rate limited');
    assert.equal(text('upstream_timeout'), 'not charged: upstream failed before any output (upstream_timeout)');
    assert.equal(text('invalid_request'), 'not charged: invalid_request');
    assert.equal(text('client_closed_request'), 'not charged: the client disconnected before any output');
    for (const code of ['invalid_api_key', 'insufficient_balance', 'upstream_error', 'invalid_request'] as const) {
      assert.equal(isNotCharged(reasonForError(new TallyError(code, 'x'))), true, code);
    }
    assert.equal(isNotCharged(REASON.completedStream), false);
  });
});
