import type { DbOrTx } from './db/index.ts';
import { verifyLedger, type VerifyReport } from './ledger/verify.ts';
import { verifyUsage } from './gateway/verifyUsage.ts';
import { verifyPayments } from './payments/verifyPayments.ts';
import { verifyTasks } from './gateway/tasks/verify.ts';

/**
 * Everything `tally ledger verify` checks: the ledger's own invariants, then
 * each module's agreement with it (request logs and usage transfers; orders,
 * refunds and their bookings; tasks and their holds). Each module owns its checks.
 */
export async function verifyBooks(db: DbOrTx, opts: { now?: number; graceMs?: number } = {}): Promise<VerifyReport> {
  const report = await verifyLedger(db, opts);
  const more = [...(await verifyUsage(db)), ...(await verifyPayments(db)), ...(await verifyTasks(db))];
  return { ...report, ok: report.ok && more.every((c) => c.ok), checks: [...report.checks, ...more] };
}
