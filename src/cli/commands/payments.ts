import type { Command } from 'commander';
import { runCommand } from '../run.ts';
import { parsePositiveMoney, formatMoney } from '../../ledger/money.ts';
import { resolveUser } from '../../accounts/users.ts';
import { TallyError } from '../../lib/errors.ts';
import {
  reconcilePayments,
  listOrders,
  refundOrder,
  compensateUser,
  creditOrderByHand,
  ORDER_STATUSES,
  REFUND_REASONS,
  refundDuplicatePayment,
  keepDuplicateAsCredit,
  type Order,
  type RefundReason,
} from '../../payments/index.ts';

const line = (o: Order) =>
  `${o.id}  ${o.status.padEnd(18)} ${o.provider.padEnd(8)} ${formatMoney(o.amount)} ${o.currency} → ${formatMoney(o.creditAmount)} ${o.creditCurrency}  user ${o.userId}  ${new Date(o.createdAt).toISOString()}${o.statusReason ? `  (${o.statusReason})` : ''}`;
const brief = (o: Order) => ({
  id: o.id,
  user_id: o.userId,
  status: o.status,
  provider: o.provider,
  amount: formatMoney(o.amount),
  currency: o.currency,
  credit_amount: formatMoney(o.creditAmount),
  status_reason: o.statusReason,
  created_at: new Date(o.createdAt).toISOString(),
});

export function paymentsCommands(program: Command) {
  const p = program.command('payments').description('top-up orders: reconcile, list, refund, compensate, credit by hand');

  p.command('reconcile')
    .description('ask the providers about orders waiting for a callback and apply the answers (exactly once); lists stuck orders')
    .option('--all', 'check every open order now, ignoring thresholds and backoff')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const r = await reconcilePayments(ctx, { all: o.all === true, actor: { type: 'cli' } });
        return {
          result: {
            ok: true,
            checked: r.checked,
            refunds: r.refunds.map((x) => ({ refund_id: x.refundId, order_id: x.orderId, outcome: x.outcome, detail: x.detail ?? null })),
            stuck: r.stuck.map(brief),
          },
          human: [
            `checked ${r.checked.length} order(s)`,
            ...r.checked.map((c) => `  ${c.orderId}: ${c.result}${c.detail ? ` (${c.detail})` : ''}`),
            ...(r.refunds.length
              ? [
                  `interrupted refunds: ${r.refunds.length}`,
                  ...r.refunds.map((x) => `  ${x.refundId} (order ${x.orderId}): ${x.outcome}${x.detail ? ` (${x.detail})` : ''}`),
                ]
              : []),
            `stuck: ${r.stuck.length}`,
            ...r.stuck.map((s) => `  ${line(s)}`),
          ],
        };
      }),
    );

  p.command('list')
    .description('list orders')
    .option('--status <status>', ORDER_STATUSES.join(' | '))
    .option('--view <view>', 'stuck | flagged | duplicate | possible_duplicate')
    .option('--user <idOrEmail>')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        if (o.status && !ORDER_STATUSES.includes(o.status)) throw new TallyError('invalid_status', `--status must be one of ${ORDER_STATUSES.join(', ')}`);
        if (o.view && !['stuck', 'flagged', 'duplicate', 'possible_duplicate'].includes(o.view))
          throw new TallyError('invalid_view', '--view must be stuck, flagged, duplicate or possible_duplicate');
        const userId = o.user ? (await resolveUser(ctx.db, o.user)).id : undefined;
        const orders = await listOrders(ctx.db, {
          status: o.status,
          view: o.view,
          userId,
          limit: Number(o.limit) || 50,
          stuckBefore: ctx.now() - ctx.payments.settings.stuckAfterMs,
        });
        return { result: { ok: true, orders: orders.map(brief) }, human: orders.length ? orders.map(line) : 'no orders' };
      }),
    );

  p.command('refund')
    .description('refund an order (in full unless --amount) to the original payment method; refused if the user spent the credit, unless --force')
    .requiredOption('--order <id>')
    .requiredOption('--reason <reason>', REFUND_REASONS.join(' | '))
    .option('--amount <decimal>', 'partial refund, in the order currency')
    .option('--note <text>')
    .option('--force', 'book what the wallet no longer holds to system:uncollected')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const r = await refundOrder(ctx, {
          orderId: o.order,
          amount: o.amount ? parsePositiveMoney(o.amount) : undefined,
          reason: o.reason as RefundReason,
          note: o.note,
          force: o.force === true,
          actor: { type: 'cli' },
        });
        const f = r.refund;
        return {
          result: {
            ok: true,
            refund: {
              id: f.id,
              amount: formatMoney(f.amount),
              credit_taken_back: formatMoney(f.creditAmount),
              uncollected: formatMoney(f.uncollected),
              status: f.status,
            },
            order: brief(r.order),
          },
          human: `refund ${f.id}: ${formatMoney(f.amount)} ${r.order.currency} (${f.status}); credit taken back ${formatMoney(f.creditAmount)}${f.uncollected > 0n ? `, ${formatMoney(f.uncollected)} booked to uncollected` : ''}; order is now ${r.order.status}`,
        };
      }),
    );

  p.command('compensate')
    .description('grant a goodwill credit (ledger kind compensation), with a reason and the support ticket; audited')
    .requiredOption('--user <idOrEmail>')
    .requiredOption('--amount <decimal>')
    .requiredOption('--reason <text>')
    .requiredOption('--ticket <ref>')
    .option('--order <id>', 'the order this compensates for')
    .option('--idempotency-key <key>')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const user = await resolveUser(ctx.db, o.user);
        const amount = parsePositiveMoney(o.amount);
        const r = await compensateUser(ctx.db, {
          userId: user.id,
          amount,
          reason: o.reason,
          ticket: o.ticket,
          orderId: o.order ?? null,
          actor: { type: 'cli' },
          idempotencyKey: o.idempotencyKey,
        });
        return {
          result: { ok: true, transfer_id: r.transfer.id, replayed: r.replayed, amount: formatMoney(amount) },
          human: `${r.replayed ? 'already applied' : 'compensated'}: ${formatMoney(amount)} to ${user.email} (${r.transfer.id}, ticket ${o.ticket})`,
        };
      }),
    );

  p.command('credit-order')
    .description(
      'credit an order by hand; the provider is asked first (refused when it says "not paid", unless --force); same exactly-once path as callbacks; audited with what the provider said',
    )
    .requiredOption('--order <id>')
    .requiredOption('--provider-reference <trade>', "the provider's trade id for the payment")
    .requiredOption('--reason <text>')
    .option('--force', 'credit although the provider says the order is not paid (the reason must say why)')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const r = await creditOrderByHand(ctx, {
          orderId: o.order,
          providerReference: o.providerReference,
          reason: o.reason,
          force: o.force === true,
          actor: { type: 'cli' },
        });
        return {
          result: { ok: true, outcome: r.outcome, provider_check: r.providerCheck, order: brief(r.order) },
          human: `${r.outcome} (provider check: ${r.providerCheck}): ${line(r.order)}`,
          exitCode: r.outcome === 'credited' || r.outcome === 'already_credited' ? 0 : 3,
        };
      }),
    );

  p.command('refund-duplicate')
    .description(
      'refund a duplicate payment (a second trade on a credited order, never credited) to the payer through its provider; the wallet does not move; exactly once, audited',
    )
    .requiredOption('--trade <id>', "the trade: trd_… or the provider's trade id")
    .requiredOption('--reason <text>')
    .option('--provider <name>', 'when the provider trade id is not unique across providers')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const r = await refundDuplicatePayment(ctx, { trade: o.trade, provider: o.provider, reason: o.reason, actor: { type: 'cli' } });
        const f = r.refund;
        return {
          result: {
            ok: true,
            replayed: r.replayed,
            trade: { id: r.trade.id, trade_id: r.trade.tradeId, provider: r.trade.provider, decision: r.trade.decision },
            refund: { id: f.id, amount: formatMoney(f.amount), status: f.status, provider_refund_id: f.providerRefundId },
            order: brief(r.order),
          },
          human: `${r.replayed ? 'already refunded' : 'refunded'}: duplicate payment ${r.trade.tradeId} (${formatMoney(f.amount)} ${r.trade.currency}) via ${r.trade.provider}, refund ${f.id} (${f.status}); wallet unchanged; order ${r.order.id} stays ${r.order.status}`,
        };
      }),
    );

  p.command('keep-duplicate')
    .description("keep a duplicate payment as balance: credit it to the wallet at the order's rate, exactly once, audited")
    .requiredOption('--trade <id>', "the trade: trd_… or the provider's trade id")
    .requiredOption('--reason <text>')
    .option('--provider <name>')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const r = await keepDuplicateAsCredit(ctx, { trade: o.trade, provider: o.provider, reason: o.reason, actor: { type: 'cli' } });
        return {
          result: {
            ok: true,
            replayed: r.replayed,
            trade: { id: r.trade.id, trade_id: r.trade.tradeId, provider: r.trade.provider, decision: r.trade.decision },
            transfer_id: r.transferId,
            credit: formatMoney(r.credit),
          },
          human: `${r.replayed ? 'already kept' : 'kept'}: duplicate payment ${r.trade.tradeId} credited ${formatMoney(r.credit)} (${r.transferId})`,
        };
      }),
    );
}
