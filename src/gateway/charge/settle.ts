import type { Logger } from 'pino';
import type { GatewayCall } from '../call.ts';
import type { TallyError } from '../../lib/errors.ts';
import { computeCost, type Usage } from '../pricing.ts';
import { billablePrompt } from '../promptEstimate.ts';
import type { AnswerRead, Provider, StreamTap } from '../providers/index.ts';
import type { ReservationBook } from '../reservations.ts';
import type { ResponsePins } from '../responsePins.ts';
import type { SettlementQueue } from '../settlement.ts';
import { countForBilling } from '../tokenCounter.ts';
import { isNotCharged, REASON, reasonForError, renderChargeReason, type ChargeReason } from './reasons.ts';
import type { RequestCharge } from './requestCharge.ts';
import { billMediaAnswer, billMediaStream } from '../media/bill.ts';
import type { MediaTap } from '../media/tap.ts';
import type { Limiter } from '../limits.ts';

// Step 5, where a request is charged: the actual cost from the usage the
// upstream reported (or, when it reported none, from Tally's own count of the
// prompt and the output), the hold released down to it, and the settlement
// (transfer + log row) queued for the group commit (settlement.ts). Whether
// and why it was charged is decided here as a ChargeReason (reasons.ts).

const NO_USAGE: Usage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };

function wholeReason(read: AnswerRead): ChargeReason {
  if (read.shape === 'json') return REASON.completedResponse;
  return read.shape === 'sse' ? REASON.countedSse : REASON.countedUnreadable;
}

export class Settler {
  /** Settlements waiting for a count (settleCounted). */
  private readonly counting = new Set<Promise<void>>();

  constructor(
    private readonly d: { book: ReservationBook; settlement: SettlementQueue; log: Logger; limits?: Limiter },
    /** Where a stored Responses answer's id is pinned to its channel (previous_response_id), when the relay keeps pins. */
    private readonly pins: ResponsePins | null = null,
  ) {}

  /** Resolves when no settlement is waiting for a count. */
  async flush(): Promise<void> {
    while (this.counting.size) await Promise.all(this.counting);
  }

  /** A whole answer went to the client: settle from its usage, or count it. */
  whole(c: RequestCharge, provider: Provider, sent: GatewayCall, body: Buffer, status: number): void {
    // `sent`: the call as the provider received it (translated, when the caller speaks another protocol), read in its format.
    if (c.call.media) {
      this.settleMedia(c, billMediaAnswer(c, body), status);
      return;
    }
    const read = provider.readAnswer(body, sent);
    this.pinResponse(c, read.responseId);
    if (read.usage) this.settle(c, read.usage, 'upstream', status, REASON.completedResponse);
    else this.settleCounted(c, read.output, status, wholeReason(read));
  }

  /**
   * A stream ended: normally, or broken off by the upstream or by the client.
   * An interrupted stream is charged only if output (content or tool-call
   * text) was produced; a bare role chunk is not output.
   */
  stream(
    c: RequestCharge,
    provider: Provider,
    sent: GatewayCall,
    tap: StreamTap,
    status: number,
    contentType: string | null,
    upstreamBroke: boolean,
    clientGone: boolean,
  ): void {
    if (c.call.media) {
      this.settleMedia(c, billMediaStream(c, tap as MediaTap, upstreamBroke, clientGone), status);
      return;
    }
    const interrupted = upstreamBroke || clientGone;
    this.pinResponse(c, tap.responseId?.());
    let usage = tap.reportedUsage();
    let output = '';
    if (!usage && !interrupted && !/event-stream/i.test(contentType ?? 'text/event-stream')) {
      // Asked to stream, answered with a whole body: read it as one.
      const read = provider.readAnswer(tap.received(), sent);
      this.pinResponse(c, read.responseId);
      usage = read.usage;
      output = read.output;
    } else if (!usage || interrupted) output = tap.producedText();
    const produced = !interrupted || output.length > 0;
    let reason: ChargeReason = REASON.completedStream;
    if (clientGone) reason = produced ? REASON.outputBeforeClientDisconnect : REASON.clientDisconnectedBeforeOutput;
    else if (upstreamBroke) reason = produced ? REASON.outputBeforeUpstreamBreak : REASON.upstreamBrokeBeforeOutput;
    if (interrupted) {
      c.log.error_code = clientGone ? 'client_disconnected' : 'upstream_disconnected';
      c.log.error_message = renderChargeReason(reason);
    }
    if (!produced) this.settle(c, NO_USAGE, usage ? 'upstream' : 'counted', status, reason);
    else if (usage) this.settle(c, usage, 'upstream', status, reason);
    else this.settleCounted(c, output, status, reason, tap.promptUsage?.() ?? null);
  }

  /** A Responses answer the upstream stored (store not false): its id is pinned to the channel and user, for previous_response_id. */
  private pinResponse(c: RequestCharge, responseId: string | null | undefined): void {
    if (!responseId || !this.pins || c.call.endpoint !== 'responses' || c.call.body.store === false || !c.log.channel_id) return;
    this.pins.record(responseId, { channelId: c.log.channel_id, keyRef: c.keyRef, userId: c.principal.user.id });
  }

  /** The request failed before any output: nothing is charged, the hold is released, the log row says why. */
  failed(c: RequestCharge, err: TallyError): void {
    const log = c.log;
    log.status = err.status;
    log.error_code = err.code;
    log.error_message = err.message.slice(0, 500);
    log.charge_reason = renderChargeReason(reasonForError(err));
    if (c.reservation) this.d.book.release(c.reservation, 0n);
    this.d.limits?.finish(c.limitTicket, 0);
    log.latency_ms = Date.now() - c.started;
    this.d.settlement.enqueue({ requestId: log.id, walletId: null, keyId: null, keyLimited: false, cost: 0n, log });
  }

  /**
   * Settles from Tally's own count (the upstream reported no usage): the
   * prompt as counted for the hold, the output counted now. A large text is
   * counted on the counting thread, so the settlement may land a moment later;
   * flush() waits for it. When the upstream reported the prompt side before
   * the stream ended (`prompt`: Anthropic's message_start, with its
   * prompt-cache counts), that is billed, and only the output is counted.
   */
  private settleCounted(c: RequestCharge, output: string, status: number, reason: ChargeReason, prompt: Usage | null = null): void {
    const promptTokens = prompt ? prompt.promptTokens : billablePrompt(c.call.prompt, c.estimate);
    const completion = countForBilling(output);
    const usage = (pt: number, ct: number): Usage =>
      prompt ? { ...prompt, completionTokens: ct } : { promptTokens: pt, completionTokens: ct, cachedTokens: 0 };
    if (typeof promptTokens === 'number' && typeof completion === 'number') {
      this.settle(c, usage(promptTokens, completion), 'counted', status, reason);
      return;
    }
    const done = Promise.all([promptTokens, completion])
      .then(([pt, ct]) => this.settle(c, usage(pt, ct), 'counted', status, reason))
      .catch((e) => this.d.log.error({ err: e, requestId: c.log.id }, 'could not settle a counted request'))
      .finally(() => this.counting.delete(done));
    this.counting.add(done);
  }

  /** An image or audio answer: media/bill.ts worked out its cost (never above the hold) and filled the log row. */
  private settleMedia(c: RequestCharge, cost: bigint, status: number): void {
    const reservation = c.reservation!;
    this.d.book.release(reservation, cost);
    this.d.limits?.finish(c.limitTicket, 0);
    c.log.status = status;
    c.log.latency_ms = Date.now() - c.started;
    this.d.settlement.enqueue({
      requestId: c.log.id,
      walletId: reservation.walletId,
      keyId: c.principal.key.id,
      keyLimited: reservation.keyLimited,
      budgets: reservation.budgets,
      cost,
      log: c.log,
    });
  }

  private settle(c: RequestCharge, usage: Usage, source: 'upstream' | 'counted', status: number, reason: ChargeReason): void {
    const cost = computeCost(c.price, usage, c.group.multiplierPpm);
    const reservation = c.reservation!;
    this.d.book.release(reservation, cost);
    // Its tokens per minute are corrected from the bound taken to what it used (promptTokens includes cache reads and writes).
    this.d.limits?.finish(c.limitTicket, usage.promptTokens + usage.completionTokens + (usage.toolUsePromptTokens ?? 0));
    const log = c.log;
    log.status = status;
    log.prompt_tokens = usage.promptTokens;
    log.completion_tokens = usage.completionTokens;
    log.cached_tokens = usage.cachedTokens;
    log.cache_write_tokens = usage.cacheWriteTokens ?? 0;
    log.cache_write_1h_tokens = usage.cacheWrite1hTokens ?? 0;
    log.reasoning_tokens = usage.reasoningTokens ?? 0;
    log.tool_use_prompt_tokens = usage.toolUsePromptTokens ?? 0;
    log.usage_source = source;
    log.cost = cost;
    if (cost > 0n) log.charge_reason = renderChargeReason(reason, c.cappedBy, c.maxTokensCap);
    else log.charge_reason = renderChargeReason(isNotCharged(reason) ? reason : REASON.zeroCost);
    log.latency_ms = Date.now() - c.started;
    this.d.settlement.enqueue({
      requestId: log.id,
      walletId: reservation.walletId,
      keyId: c.principal.key.id,
      keyLimited: reservation.keyLimited,
      budgets: reservation.budgets,
      cost,
      log,
    });
  }
}
