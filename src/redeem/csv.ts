import { formatMoney } from '../ledger/money.ts';
import type { RedeemBatch, GeneratedCode } from './batches.ts';

const cell = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** The one export of a batch's plaintext codes, made at generation time (afterwards only the last 4 exist). */
export function redeemCodesCsv(batch: RedeemBatch, codes: GeneratedCode[]): string {
  const expires = batch.expiresAt === null ? '' : new Date(batch.expiresAt).toISOString();
  const lines = [['code', 'amount', 'currency', 'expires_at', 'max_uses', 'batch_id', 'batch_name', 'code_id'].join(',')];
  for (const c of codes)
    lines.push([c.code, formatMoney(batch.amount), batch.currency, expires, String(batch.maxUses), batch.id, batch.name ?? '', c.id].map(cell).join(','));
  return lines.join('\n') + '\n';
}
