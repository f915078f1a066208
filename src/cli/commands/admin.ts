import type { Command } from 'commander';
import { runCommand } from '../run.ts';
import { createUser, resolveUser, getUserBalance, setUserLimits, type Role } from '../../accounts/users.ts';
import { limitOption } from './key.ts';
import { adjustBalanceManually } from '../../accounts/manualCredit.ts';
import { parseMoney, formatMoney } from '../../ledger/money.ts';
import { walletAccountId } from '../../ledger/accounts.ts';
import { listApprovals, approveApproval, rejectApproval, approvalView, APPROVAL_STATUSES, type ApprovalStatus } from '../../support/approvals.ts';
import { permissionTableMarkdown, PERMISSIONS } from '../../support/permissions.ts';
import { ERRORS, errorTableMarkdown } from '../../lib/errors.ts';
import { TallyError } from '../../lib/errors.ts';
import { userAdminCommands } from './userAdmin.ts';

export function userCommands(program: Command) {
  const user = program.command('user').description('user accounts');
  userAdminCommands(user); // disable, enable, set-group, set-role, sign-out (src/cli/commands/userAdmin.ts)
  user
    .command('set-limits')
    .description("a user's requests per minute, tokens per minute and requests in flight, across all their keys (a key's own limit wins); none removes one")
    .requiredOption('--user <idOrEmail>')
    .option('--rpm <n>', 'requests per minute, or none')
    .option('--tpm <n>', 'tokens per minute, or none')
    .option('--concurrency <n>', 'requests in flight at once, or none')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const target = await resolveUser(ctx.db, o.user);
        const limits = { rpm: limitOption(o.rpm, 'rpm'), tpm: limitOption(o.tpm, 'tpm'), concurrency: limitOption(o.concurrency, 'concurrency') };
        const user = await setUserLimits(ctx.db, { userId: target.id, limits, actor: { type: 'cli' } });
        await ctx.events.publish({ type: 'user_changed', userId: user.id });
        const show = (v: number | null) => (v === null ? 'none' : String(v));
        return {
          result: { ok: true, user_id: user.id, ...user.limits },
          human: `${user.email}: rpm ${show(user.limits.rpm)}, tpm ${show(user.limits.tpm)}, concurrency ${show(user.limits.concurrency)}`,
        };
      }),
    );
}

export function adminCommands(program: Command) {
  const admin = program.command('admin').description('users and balances');

  admin
    .command('create-user')
    .description('create a user (and their wallet); prints a generated password when none is given')
    .requiredOption('--email <email>')
    .option('--password <password>')
    .option('--nickname <name>')
    .option('--role <role>', 'user | support | admin', 'user')
    .option('--group <group>', 'pricing group', 'default')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const { user, generatedPassword } = await createUser(
          ctx.db,
          { email: o.email, password: o.password, nickname: o.nickname, role: o.role as Role, group: o.group },
          { actor: { type: 'cli' }, currency: ctx.config.currency },
        );
        return {
          result: {
            ok: true,
            user: { id: user.id, email: user.email, nickname: user.nickname, role: user.role, group: user.group },
            ...(generatedPassword ? { password: generatedPassword } : {}),
          },
          human: [`created ${user.role} ${user.email} (${user.id})`, ...(generatedPassword ? [`password: ${generatedPassword}  (shown once)`] : [])],
        };
      }),
    );

  admin
    .command('credit')
    .description('credit (or, with a negative amount, debit) a wallet; recorded in the ledger and the audit log')
    .requiredOption('--user <idOrEmail>')
    .requiredOption('--amount <decimal>', 'e.g. 10.00; negative to debit')
    .requiredOption('--reason <text>', "shown on the user's statement")
    .option('--idempotency-key <key>', 'repeat the command with the same key and it credits once')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const user = await resolveUser(ctx.db, o.user);
        const amount = parseMoney(o.amount, { allowNegative: true, allowZero: false });
        const r = await adjustBalanceManually(ctx.db, { userId: user.id, amount, reason: o.reason, actor: { type: 'cli' }, idempotencyKey: o.idempotencyKey });
        // A debit may cross the user's balance alert: enqueued here, sent by a running server's outbox.
        await ctx.alerts.checkWallet(walletAccountId(user.id));
        const b = await getUserBalance(ctx.db, user.id);
        return {
          result: {
            ok: true,
            user_id: user.id,
            transfer_id: r.transfer.id,
            replayed: r.replayed,
            amount: formatMoney(amount),
            balance: formatMoney(b.balance),
            available: formatMoney(b.available),
          },
          human: `${r.replayed ? 'already applied' : 'applied'}: ${formatMoney(amount)} ${b.currency} to ${user.email} (${r.transfer.id}); balance ${formatMoney(b.balance)}`,
        };
      }),
    );

  admin
    .command('balance')
    .description("show a user's balance, pending holds and available amount")
    .requiredOption('--user <idOrEmail>')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const user = await resolveUser(ctx.db, o.user);
        const b = await getUserBalance(ctx.db, user.id);
        return {
          result: {
            ok: true,
            user_id: user.id,
            email: user.email,
            currency: b.currency,
            balance: formatMoney(b.balance),
            pending: formatMoney(b.pending),
            available: formatMoney(b.available),
          },
          human: `${user.email}: balance ${formatMoney(b.balance)} ${b.currency}, pending ${formatMoney(b.pending)}, available ${formatMoney(b.available)}`,
        };
      }),
    );

  // The second person, from the host: the CLI is the operator (audited as `cli`), never the requester.
  admin
    .command('approvals')
    .description("support's money requests waiting for approval (or, with --status, decided ones)")
    .option('--status <status>', APPROVAL_STATUSES.join(' | '), 'pending')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        if (!APPROVAL_STATUSES.includes(o.status)) throw new TallyError('invalid_status', `--status must be one of ${APPROVAL_STATUSES.join(', ')}`);
        const rows = await listApprovals(ctx.db, { status: o.status as ApprovalStatus, limit: Number(o.limit) || 50 });
        return {
          result: { ok: true, approvals: rows.map((a) => approvalView(a, ctx.config.currency)) },
          human: rows.length
            ? rows.map(
                (a) =>
                  `${a.id}  ${a.status.padEnd(9)} ${a.action.padEnd(17)} ${formatMoney(a.value)} ${ctx.config.currency}  user ${a.targetUserId}  by ${a.requestedBy}: ${a.reason}`,
              )
            : `no ${o.status} approvals`,
        };
      }),
    );

  for (const verb of ['approve', 'reject'] as const) {
    admin
      .command(verb)
      .description(verb === 'approve' ? 'approve a support request: its action runs once, audited' : 'reject a support request, with a reason')
      .requiredOption('--id <apr_id>')
      .requiredOption('--reason <text>')
      .option('--json', 'print one JSON object')
      .action((o) =>
        runCommand(o, async (ctx) => {
          const input = { id: o.id, reason: o.reason, actor: { type: 'cli' } as const };
          const r = verb === 'approve' ? await approveApproval(ctx, input) : await rejectApproval(ctx, input);
          return {
            result: { ok: true, replayed: r.replayed, approval: approvalView(r.approval, ctx.config.currency) },
            human: `${r.replayed ? 'already ' : ''}${r.approval.status}: ${r.approval.id} (${r.approval.action}, ${formatMoney(r.approval.value)} ${ctx.config.currency})`,
          };
        }),
      );
  }

  admin
    .command('permissions')
    .description('the role table: who may call each staff route (the checks read the same table)')
    .option('--json', 'print one JSON object')
    .action((o) => runCommand(o, async () => ({ result: { ok: true, permissions: PERMISSIONS }, human: permissionTableMarkdown() })));

  admin
    .command('errors')
    .description('the error registry: every error code the API can answer, with its HTTP status, type and retry advice')
    .option('--json', 'print one JSON object')
    .action((o) => runCommand(o, async () => ({ result: { ok: true, errors: ERRORS }, human: errorTableMarkdown() })));
}
