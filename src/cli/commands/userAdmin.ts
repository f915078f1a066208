import type { Command } from 'commander';
import { runCommand } from '../run.ts';
import type { AppContext } from '../../context.ts';
import { resolveUser, type Role } from '../../accounts/users.ts';
import { disableUser, enableUser, setUserGroup, setUserRole, signOutUser, type UserAdminResult } from '../../accounts/userAdmin.ts';

// `tally user disable|enable|set-group|set-role|sign-out --user EMAIL`: the
// staff page's account actions for the operator on the host, audited as `cli`.
// The change is published as `user_changed`; with TALLY_REDIS_URL every
// running instance drops the user's cached keys at once (without Redis a
// separate server process re-reads them within its key cache's minute).

const ACTOR = { type: 'cli' } as const;

async function report(ctx: AppContext, r: UserAdminResult, done: string) {
  await ctx.events.publish({ type: 'user_changed', userId: r.user.id });
  const u = r.user;
  return {
    result: {
      ok: true,
      changed: r.changed,
      sessions_ended: r.sessionsEnded,
      user: { id: u.id, email: u.email, role: u.role, status: u.status, group: u.group },
    },
    human: `${u.email}: ${r.changed ? done : 'unchanged'} (status ${u.status}, role ${u.role}, group ${u.group}; ${r.sessionsEnded} session(s) ended)`,
  };
}

/** Adds the account administration commands to `tally user`. */
export function userAdminCommands(user: Command) {
  user
    .command('disable')
    .description('disable an account: sign-in refused, sessions ended, its API keys refused at once')
    .requiredOption('--user <idOrEmail>')
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const target = await resolveUser(ctx.db, o.user);
        return report(ctx, await disableUser(ctx.db, { userId: target.id, reason: o.reason, actor: ACTOR, now: ctx.now() }), 'disabled');
      }),
    );

  user
    .command('enable')
    .description('enable a disabled account again (its keys work at once; it signs in anew)')
    .requiredOption('--user <idOrEmail>')
    .option('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const target = await resolveUser(ctx.db, o.user);
        return report(ctx, await enableUser(ctx.db, { userId: target.id, reason: o.reason, actor: ACTOR, now: ctx.now() }), 'enabled');
      }),
    );

  user
    .command('set-group')
    .description('move a user to another pricing group (its multiplier applies from the next request)')
    .requiredOption('--user <idOrEmail>')
    .requiredOption('--group <name>', 'default, or a group made with `tally group set`')
    .option('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const target = await resolveUser(ctx.db, o.user);
        return report(
          ctx,
          await setUserGroup(ctx.db, { userId: target.id, group: o.group, reason: o.reason, actor: ACTOR, now: ctx.now() }),
          `moved to ${o.group}`,
        );
      }),
    );

  user
    .command('set-role')
    .description("change a user's role (user | support | admin); their sessions end")
    .requiredOption('--user <idOrEmail>')
    .requiredOption('--role <role>', 'user | support | admin')
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const target = await resolveUser(ctx.db, o.user);
        const r = await setUserRole(ctx.db, { userId: target.id, role: o.role as Role, reason: o.reason, actor: ACTOR, now: ctx.now() });
        return report(ctx, r, `now ${o.role}`);
      }),
    );

  user
    .command('sign-out')
    .description('sign a user out everywhere (every session ends; API keys are not touched)')
    .requiredOption('--user <idOrEmail>')
    .option('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print one JSON object')
    .action((o) =>
      runCommand(o, async (ctx) => {
        const target = await resolveUser(ctx.db, o.user);
        return report(ctx, await signOutUser(ctx.db, { userId: target.id, reason: o.reason, actor: ACTOR, now: ctx.now() }), 'signed out');
      }),
    );
}
