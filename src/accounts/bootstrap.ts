import type { ServiceContext } from '../service.ts';
import { createUser } from './users.ts';
import { createApiKey } from './apiKeys.ts';
import { adjustBalanceManually } from './manualCredit.ts';
import { generatePassword } from './passwords.ts';

export const ADMIN_EMAIL = 'admin@tally.local';
export const DEMO_EMAIL = 'demo@tally.local';
export const DEMO_BALANCE = 5_000_000n; // $5.00

export interface FirstStart {
  adminEmail: string;
  adminPassword: string;
  demoEmail: string;
  demoPassword: string;
  demoKey: string;
}

/**
 * On the very first start of an empty database: an admin, a demo user with a
 * demo balance and a demo API key. Claimed through a settings row, so when
 * several instances start at once exactly one of them bootstraps.
 */
export async function bootstrapFirstStart(ctx: ServiceContext): Promise<FirstStart | null> {
  const claim = await ctx.db
    .insertInto('settings')
    .values({ key: 'bootstrap', value: new Date(ctx.now()).toISOString(), updated_at: ctx.now() })
    .onConflict((oc) => oc.column('key').doNothing())
    .executeTakeFirst();
  if (Number(claim.numInsertedOrUpdatedRows ?? 0) !== 1) return null;
  const adminPassword = generatePassword();
  const demoPassword = generatePassword();
  const actor = { type: 'system' } as const;
  await createUser(ctx.db, { email: ADMIN_EMAIL, password: adminPassword, nickname: 'admin', role: 'admin' }, { actor, currency: ctx.config.currency });
  if (!ctx.config.demo) return { adminEmail: ADMIN_EMAIL, adminPassword, demoEmail: '', demoPassword: '', demoKey: '' };
  const { user } = await createUser(ctx.db, { email: DEMO_EMAIL, password: demoPassword, nickname: 'demo' }, { actor, currency: ctx.config.currency });
  await adjustBalanceManually(ctx.db, {
    userId: user.id,
    amount: DEMO_BALANCE,
    reason: 'demo balance on first start',
    actor,
    kind: 'demo_credit',
    idempotencyKey: 'bootstrap:demo-balance',
  });
  const { secret } = await createApiKey(ctx.db, { userId: user.id, name: 'demo' }, ctx.now());
  return { adminEmail: ADMIN_EMAIL, adminPassword, demoEmail: DEMO_EMAIL, demoPassword, demoKey: secret };
}
