import { startWalCheckpointer } from '../db/walCheckpointer.ts';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.ts';
import { createContext, type AppContext } from '../context.ts';
import { buildServer } from './server.ts';
import { expireHolds } from '../ledger/holds.ts';
import { bootstrapFirstStart, type FirstStart } from '../accounts/bootstrap.ts';
import { seedDemoChannel } from '../gateway/demo/seed.ts';
import { startReconcileWorker } from '../payments/reconcile.ts';

export interface RunningTally {
  app: FastifyInstance;
  ctx: AppContext;
  url: string;
  port: number;
  firstStart: FirstStart | null;
  /** What the operator must know about this configuration (logged at start; `tally serve` also writes them to stderr). */
  warnings: string[];
  stop(): Promise<void>;
}

/** Settings that are legal but dangerous: said loudly at every start. */
export function startupWarnings(config: Config, ctx: AppContext): string[] {
  const warnings: string[] = [];
  if (ctx.payments.providers.has('sandbox')) {
    warnings.push(
      'The SANDBOX payment provider is ON (TALLY_PAYMENT_SANDBOX=on): every signed-in user can top up their own balance without paying. Use it for demos and tests only, never where balances buy real upstream usage.',
    );
  }
  if (config.trustProxy !== false && config.secureCookies !== 'on') {
    warnings.push(
      config.secureCookies === 'off'
        ? 'TALLY_TRUST_PROXY is set but TALLY_SECURE_COOKIES=off: the session cookie is never marked Secure. Behind an HTTPS proxy set TALLY_SECURE_COOKIES=on.'
        : 'TALLY_TRUST_PROXY is set but TALLY_SECURE_COOKIES is not on: the session cookie is marked Secure only on requests the proxy labels X-Forwarded-Proto: https. Behind an HTTPS proxy set TALLY_SECURE_COOKIES=on so the cookie never travels over plain HTTP.',
    );
  }
  return warnings;
}

/**
 * Starts a Tally instance: migrate, sweep holds a crash may have stranded,
 * bootstrap an empty database, listen, and start the background workers
 * (expired-hold sweeper, catalog reload, WAL checkpointer, payments reconcile,
 * task poller, alert outbox);
 * stop() ends them after the HTTP server and before the context closes.
 */
export async function startTally(config: Config, opts: { ctx?: AppContext; bootstrap?: boolean } = {}): Promise<RunningTally> {
  const ctx = opts.ctx ?? (await createContext(config));
  const swept = await expireHolds(ctx.db, { now: ctx.now() });
  if (swept) ctx.log.info({ swept }, 'voided holds that expired while Tally was down');
  const warnings = startupWarnings(config, ctx);
  for (const w of warnings) ctx.log.warn(w);
  const firstStart = opts.bootstrap === false ? null : await bootstrapFirstStart(ctx);
  if (firstStart && config.demo) await seedDemoChannel(ctx.db, config.secret);
  // Until the settlement writer is up (a worker thread loads for a while), an answered request could only be settled in memory.
  await ctx.settlement.ready();
  const app = await buildServer(ctx);
  await app.listen({ port: config.port, host: config.host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  // The demo channel points at this instance's own demo upstream.
  ctx.catalog.selfUrl = `http://127.0.0.1:${port}`;
  await ctx.catalog.reload();
  ctx.catalog.startAutoReload(config.catalogReloadMs, (e) => ctx.log.error({ err: e }, 'catalog reload failed'));
  const sweeper = setInterval(() => {
    expireHolds(ctx.db, { now: ctx.now() }).catch((e) => ctx.log.error({ err: e }, 'hold sweep failed'));
  }, config.holdSweepMs);
  sweeper.unref();
  const checkpointer = startWalCheckpointer(ctx.dbh, ctx.log);
  const reconciler = startReconcileWorker(ctx);
  // Task polling: every instance polls (leases keep two from polling one task); TALLY_TASK_WORKER=off leaves it to the others.
  if (config.tasks.worker) ctx.tasks.worker.start();
  // Channel probes: every instance runs the worker (a per-interval claim keeps two from probing one channel); 0 = off.
  ctx.probes.start();
  // Alert deliveries: every instance sends (a conditional claim keeps two from sending one).
  await ctx.alerts.start();
  // Not a dangerous setting (startupWarnings), but an operator who expects alert e-mails must hear why none go out.
  for (const w of ctx.alerts.warnings()) ctx.log.warn(w);
  let stopped = false;
  return {
    app,
    ctx,
    port,
    url: `http://127.0.0.1:${port}`,
    firstStart,
    warnings,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      clearInterval(sweeper);
      await app.close();
      await ctx.tasks.worker.stop();
      await ctx.alerts.stop();
      await ctx.probes.stop();
      await reconciler.stop();
      await checkpointer?.stop();
      await ctx.close();
    },
  };
}
