import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import type { TestTally } from './tally.ts';
import type { AnthropicUsage } from './mockAnthropic.ts';
import { requestLogRow } from './relay.ts';
import { divCeil } from '../../src/ledger/money.ts';
import { toBig } from '../../src/ledger/index.ts';
import type { ModelPrice } from '../../src/gateway/pricing.ts';

// Shared by the Anthropic relay suites (test/gateway/anthropic.*.test.ts).

/** The official Anthropic SDK pointed at a test Tally (base URL without /v1, as Claude Code's ANTHROPIC_BASE_URL), retries off. */
export const claudeSdk = (t: TestTally, apiKey: string) => new Anthropic({ baseURL: t.url, apiKey, maxRetries: 0 });

/**
 * What a request with this Anthropic usage costs, written out by hand (not
 * with Tally's reader): every uncached input and cache-written token at the
 * input price (no cache-write price is set in these suites), cache reads at
 * the cached price, output at the output price; x multiplier; rounded up once.
 */
export function anthropicCost(price: ModelPrice, u: AnthropicUsage, multiplierPpm = 1_000_000n): bigint {
  const written = BigInt(u.cache_creation_input_tokens ?? 0);
  const read = BigInt(u.cache_read_input_tokens ?? 0);
  const raw =
    (BigInt(u.input_tokens) + written) * price.inputPer1M + read * (price.cachedInputPer1M ?? price.inputPer1M) + BigInt(u.output_tokens) * price.outputPer1M;
  return divCeil(raw * multiplierPpm, 1_000_000n * 1_000_000n);
}

/** A settled, charged request: its log row, the exact cost, the wallet's transfer linked. */
export async function assertChargedRow(t: TestTally, rid: string | null, expected: bigint, extra: Record<string, unknown> = {}) {
  const row = await requestLogRow(t, rid);
  assert.ok(row, `a request log row exists for ${rid}`);
  assert.equal(Number(row.charged), 1, `charged: ${row.charge_reason}`);
  assert.equal(toBig(row.cost), expected, 'cost = tokens x price, rounded up once');
  assert.equal(toBig(row.charged_amount), expected);
  assert.equal(toBig(row.uncollected), 0n);
  assert.ok(row.transfer_id, 'the log row links its ledger transfer');
  for (const [k, v] of Object.entries(extra))
    assert.equal(typeof v === 'bigint' ? toBig(row[k]) : typeof v === 'number' ? Number(row[k]) : row[k], v, `request_logs.${k}`);
  return row;
}

/** The request log row of a request that was not charged. */
export async function assertNotChargedRow(t: TestTally, rid: string | null) {
  const row = await requestLogRow(t, rid);
  assert.ok(row, `a request log row exists for ${rid}`);
  assert.equal(Number(row.charged), 0, `not charged: ${row.charge_reason}`);
  assert.equal(toBig(row.charged_amount), 0n);
  return row;
}
