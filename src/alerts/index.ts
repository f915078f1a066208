import type { Logger } from 'pino';
import type { DbOrTx } from '../db/index.ts';
import type { Config } from '../config/index.ts';
import type { EventBus } from '../lib/events.ts';
import { readSpendable } from '../ledger/available.ts';
import { balanceSubject, noteBalance, noteBudgetLevel, type Channels } from './crossing.ts';
import { createDeliverer, type Deliverer } from './deliver.ts';
import { AlertOutbox } from './outbox.ts';
import { readAlertSettings, readBalanceThresholds, type AlertSettings } from './settings.ts';

export { signWebhook } from './deliver.ts';
export { validateWebhookUrl, isPrivateAddress } from './webhookUrl.ts';
export { readAlertSettings, writeAlertSettings, type AlertSettings } from './settings.ts';
export { balanceSubject } from './crossing.ts';
export { changeAlertSettings, type AlertSettingsChange } from './change.ts';

// Alerts (DESIGN.md "Limits, budgets and teams"): a balance below an owner's
// threshold, a budget at 80% and 100%, by e-mail and by signed webhook, once
// per crossing (crossing.ts), delivered from a durable outbox with retries
// (outbox.ts). The hooks are called on the money paths and must stay cheap:
// walletFigures() looks the wallet up in an in-memory map of thresholds
// (refreshed when settings change, on every instance through the event bus)
// and does nothing else for a wallet without one; a wallet with one reaches
// the database only when its side of the threshold changes, or every
// MEMO_MS while it stays there (another instance may have moved it). The
// database work runs after the hook returns, one at a time per subject; an
// error there is logged, never thrown into settlement.

/** How long a known side of a threshold is trusted before the database is asked again. */
const MEMO_MS = 10_000;
const RELOAD_MS = 60_000;

/** The figures the settlement flusher reports: after a commit, and after a wallet re-read. */
export interface AlertHooks {
  walletFigures(spendable: Map<string, bigint>): void;
  /** A budget's spend in a period after a commit: `ref` = `key:<id>` | `member:<team>:<user>`, `spent` of `amount`. */
  noteBudgetSpend(ref: string, periodKey: string, spent: bigint, amount: bigint): void;
}

export class Alerts implements AlertHooks {
  private thresholds = new Map<string, AlertSettings>();
  private memo = new Map<string, { state: string; at: number }>();
  private chains = new Map<string, Promise<void>>();
  private reloadTimer: NodeJS.Timeout | null = null;
  readonly channels: Channels;
  readonly deliverer: Deliverer;
  readonly outbox: AlertOutbox;

  constructor(
    private readonly d: {
      db: DbOrTx;
      log: Logger;
      config: Config['alerts'];
      currency: string;
      events?: EventBus;
      now(): number;
    },
  ) {
    this.channels = { email: !!d.config.smtpUrl, webhook: !!d.config.webhookSecret };
    this.deliverer = createDeliverer({ ...d.config, now: () => d.now() });
    this.outbox = new AlertOutbox({
      db: d.db,
      log: d.log,
      deliverer: this.deliverer,
      pollMs: d.config.pollMs,
      retryMs: d.config.retryMs,
      maxAttempts: d.config.maxAttempts,
      now: () => d.now(),
    });
    d.events?.on(async (e) => {
      if (e.type === 'alert_settings_changed') await this.reloadOwner(e.owner);
    });
  }

  /** What an operator must know at start. */
  warnings(): string[] {
    return this.channels.email ? [] : ['TALLY_SMTP_URL is not set: e-mail alerts (balance and budget thresholds) are skipped; webhooks still go out.'];
  }

  /** Reads the thresholds, starts the outbox worker and a periodic re-read (an instance without Redis misses settings events). */
  async start(): Promise<void> {
    await this.reload();
    this.outbox.start();
    this.reloadTimer = setInterval(() => {
      this.reload().catch((e) => this.d.log.error({ err: e }, 'alert thresholds reload failed'));
    }, RELOAD_MS);
    this.reloadTimer.unref();
  }

  async reload(): Promise<void> {
    this.thresholds = await readBalanceThresholds(this.d.db);
  }

  private async reloadOwner(owner: string): Promise<void> {
    const s = await readAlertSettings(this.d.db, owner);
    if (s.balanceBelow === null) this.thresholds.delete(owner);
    else this.thresholds.set(owner, s);
    this.memo.delete(balanceSubject(owner));
  }

  /** After a settings change: every instance re-reads the owner's settings, and the wallet is judged against them now. */
  async settingsChanged(owner: string): Promise<void> {
    if (this.d.events) await this.d.events.publish({ type: 'alert_settings_changed', owner });
    else await this.reloadOwner(owner);
    await this.checkWallet(owner);
  }

  walletFigures(spendable: Map<string, bigint>): void {
    if (!this.thresholds.size) return;
    const now = this.d.now();
    for (const [wallet, amount] of spendable) {
      const s = this.thresholds.get(wallet);
      if (!s || s.balanceBelow === null) continue;
      const subject = balanceSubject(wallet);
      const state = amount < s.balanceBelow ? 'below' : 'above';
      const m = this.memo.get(subject);
      if (m && m.state === state && now - m.at < MEMO_MS) continue;
      this.memo.set(subject, { state, at: now });
      this.serially(subject, () => this.judgeBalance(s, amount));
    }
  }

  /** A balance changed outside settlement (a manual debit or credit): reads the wallet and judges it. Never throws. */
  async checkWallet(wallet: string): Promise<void> {
    try {
      const s = await readAlertSettings(this.d.db, wallet);
      if (s.balanceBelow === null) return;
      const amount = (await readSpendable(this.d.db, [wallet])).get(wallet);
      if (amount === undefined) return;
      const subject = balanceSubject(wallet);
      this.memo.set(subject, { state: amount < s.balanceBelow ? 'below' : 'above', at: this.d.now() });
      await this.serially(subject, () => this.judgeBalance(s, amount));
    } catch (e) {
      this.d.log.error({ err: e, wallet }, 'alert check failed');
    }
  }

  private async judgeBalance(s: AlertSettings, spendable: bigint): Promise<void> {
    const r = await noteBalance(this.d.db, { settings: s, spendable, currency: this.d.currency, channels: this.channels, now: this.d.now() });
    if (r.enqueued) this.outbox.kick();
  }

  noteBudgetSpend(ref: string, periodKey: string, spent: bigint, amount: bigint): void {
    if (amount <= 0n) return;
    const level: 0 | 80 | 100 = spent * 100n >= amount * 100n ? 100 : spent * 100n >= amount * 80n ? 80 : 0;
    if (!level) return;
    const subject = `budget:${ref}:${periodKey}`;
    const seen = `${level}:${amount}`;
    const m = this.memo.get(subject);
    if (m && m.state === seen && this.d.now() - m.at < MEMO_MS) return;
    this.memo.set(subject, { state: seen, at: this.d.now() });
    this.serially(subject, async () => {
      const base = { ref, periodKey, spent, amount, currency: this.d.currency, channels: this.channels, now: this.d.now() };
      // The higher level first: a step from below 80% straight past 100% sends the 100% alert only.
      let n = 0;
      if (level === 100) n += await noteBudgetLevel(this.d.db, { ...base, level: 100, notify: true });
      n += await noteBudgetLevel(this.d.db, { ...base, level: 80, notify: level === 80 });
      if (n) this.outbox.kick();
    });
  }

  /** Runs `fn` after the previous work on the same subject; errors are logged and forget the memo. */
  private serially(subject: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(subject) ?? Promise.resolve();
    const next = prev
      .then(fn)
      .catch((e) => {
        this.memo.delete(subject);
        this.d.log.error({ err: e, subject }, 'alert check failed');
      })
      .finally(() => {
        if (this.chains.get(subject) === next) this.chains.delete(subject);
      });
    this.chains.set(subject, next);
    return next;
  }

  /** Resolves when every check started so far has written its state and outbox rows (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.chains.size) await Promise.all([...this.chains.values()]);
  }

  async stop(): Promise<void> {
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    this.reloadTimer = null;
    await this.outbox.stop();
    await this.idle();
    await this.deliverer.close();
  }
}
