import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { TestTally } from './tally.ts';
import { getAccount, walletAccountId } from '../../src/ledger/index.ts';
import { verifyBooks } from '../../src/verifyBooks.ts';

// Shared by the relay suites: a client, and reads taken after the settlement
// queue has written everything (settlement is group committed).

/** The official OpenAI SDK pointed at a test Tally, with retries off so every error is seen. */
export const relaySdk = (t: TestTally, apiKey: string, prefix = '/v1') => new OpenAI({ baseURL: `${t.url}${prefix}`, apiKey, maxRetries: 0 });

/** The request log row of a request id, after the settlement queue has been flushed (waits for late settlements). */
export async function requestLogRow(t: TestTally, id: string | null, timeoutMs = 5000): Promise<any> {
  assert.ok(id, 'every response carries x-request-id');
  const until = Date.now() + timeoutMs;
  for (;;) {
    await t.ctx.relay.flush();
    const r = await t.ctx.db.selectFrom('request_logs').selectAll().where('id', '=', id).executeTakeFirst();
    if (r || Date.now() > until) return r;
    await new Promise((res) => setTimeout(res, 25));
  }
}

/** A user's wallet once every finished request is settled. */
export async function settledWallet(t: TestTally, userId: string) {
  await t.ctx.relay.flush();
  return getAccount(t.ctx.db, walletAccountId(userId));
}

export async function assertLedgerOk(t: TestTally) {
  await t.ctx.relay.flush();
  const report = await verifyBooks(t.ctx.db);
  assert.ok(
    report.ok,
    JSON.stringify(
      report.checks.filter((c) => !c.ok),
      null,
      2,
    ),
  );
}

/** A relay suite's teardown: the ledger and the books must verify, and then everything is closed even if they do not. */
export async function verifyThenClose(t: TestTally | undefined, ...others: Array<{ close(): Promise<unknown> } | undefined>) {
  try {
    if (t) await assertLedgerOk(t);
  } finally {
    await t?.close();
    for (const o of others) await o?.close();
  }
}
