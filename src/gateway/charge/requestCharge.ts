import type { Logger } from 'pino';
import type { KeyCache, KeyPrincipal } from '../../accounts/keyCache.ts';
import type { DbOrTx } from '../../db/index.ts';
import type { RateLimiter } from '../../lib/rateLimit.ts';
import type { GatewayCall, Inbound } from '../call.ts';
import type { Catalog } from '../catalog.ts';
import type { Group } from '../groups.ts';
import type { ModelPrice } from '../pricing.ts';
import type { PromptEstimate } from '../promptEstimate.ts';
import type { LimitKind, Reservation, ReservationBook } from '../reservations.ts';
import type { LogRow, SettlementQueue } from '../settlement.ts';
import type { Limiter, LimitTicket } from '../limits.ts';

export interface RelayConfig {
  maxAttempts: number;
  /** When the wallet cannot cover the bound: lower max_tokens to what it can pay ('cap') or refuse ('reject'). */
  overspend: 'cap' | 'reject';
  minOutputTokens: number;
  /** Requests per minute per key; 0 = unlimited. */
  keyRpm: number;
}

/** What the charge steps work with. */
export interface RelayDeps {
  db: DbOrTx;
  log: Logger;
  keys: KeyCache;
  catalog: Catalog;
  book: ReservationBook;
  settlement: SettlementQueue;
  limiter: RateLimiter;
  /** Requests per minute, tokens per minute and requests in flight per key, user or group (limits.ts). */
  limits: Limiter;
  config: RelayConfig;
  /** Prometheus metrics (src/ops/metrics.ts), or null when TALLY_METRICS=off. */
  metrics?: { upstreamFailure(channelId: string, errorCode: string): void } | null;
}

/**
 * One request's money as the steps fill it in: admit.ts (who pays, which
 * model, at what price), quote.ts (the prompt estimate, the hold and any
 * output cap), settle.ts (what was charged and why, in `log`). One object per
 * request, its fields assigned in that order.
 */
export class RequestCharge {
  readonly started = Date.now();
  readonly log: LogRow;
  principal!: KeyPrincipal;
  call!: GatewayCall;
  price!: ModelPrice;
  group!: Group;
  estimate!: PromptEstimate;
  /** The hold on the wallet (and key limit); released with the actual cost, or 0 on failure. */
  reservation: Reservation | null = null;
  /** The output cap quote.ts lowered max_tokens to so the payer can afford it (0: not lowered), and whose limit forced it. */
  maxTokensCap = 0;
  cappedBy: LimitKind | null = null;
  /** What the request took from its rate limits (null: none applies), given back or corrected when it ends. */
  limitTicket: LimitTicket | null = null;
  /** Which of the channel's upstream keys the current attempt sends (its fingerprint: RuntimeChannel.keyRef). */
  keyRef = '';

  constructor(readonly inbound: Inbound) {
    this.log = newLogRow(inbound, this.started);
  }
}

function newLogRow(inb: Inbound, now: number): LogRow {
  return {
    id: inb.requestId,
    user_id: null,
    key_id: null,
    key_display: null,
    group_name: null,
    endpoint: inb.endpoint,
    model: null,
    upstream_model: null,
    channel_id: null,
    attempts: 0,
    stream: 0,
    status: 0,
    error_code: null,
    error_message: null,
    prompt_tokens: 0,
    completion_tokens: 0,
    cached_tokens: 0,
    cache_write_tokens: 0,
    cache_write_1h_tokens: 0,
    reasoning_tokens: 0,
    tool_use_prompt_tokens: 0,
    usage_source: null,
    held: 0n,
    cost: 0n,
    charged_amount: 0n,
    uncollected: 0n,
    charged: 0,
    charge_reason: 'pending',
    transfer_id: null,
    pricing: null,
    latency_ms: null,
    ttfb_ms: null,
    client_ip: inb.ip,
    created_at: now,
  };
}
