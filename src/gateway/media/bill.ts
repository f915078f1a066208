import type { RequestCharge } from '../charge/requestCharge.ts';
import { isNotCharged, REASON, renderChargeReason, type ChargeReason } from '../charge/reasons.ts';
import { computeCost, computeMediaCost, type MediaUnit, type Usage } from '../pricing.ts';
import { chargedImagePrice, heldAudioMs, mediaBasis } from './quote.ts';
import type { MediaTap } from './tap.ts';

// What an image or audio answer costs, on the basis it was held on
// (media/quote.ts), from the upstream's own answer: the images it returned
// (data.length), the audio duration it reports (verbose_json `duration`, or
// `usage: {type: "duration", seconds}`), else the WAV header's, the tokens it
// reports (gpt-image-1 `usage`, gpt-4o-transcribe `usage: {type: "tokens"}`),
// the speech input's characters, or the request. Never more than was held.
// Fills the log row (units, tokens, cost, reason); settle.ts settles it.

const isObject = (v: unknown): v is Record<string, any> => !!v && typeof v === 'object' && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

function parseAnswer(body: Buffer): Record<string, any> | null {
  // A transcription's text, srt or vtt answer is not JSON; only an object is read.
  let i = 0;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09)) i++;
  if (body[i] !== 0x7b) return null;
  try {
    const j = JSON.parse(body.toString('utf8'));
    return isObject(j) ? j : null;
  } catch {
    return null;
  }
}

/** OpenAI media usage (images: input_tokens/output_tokens with input_tokens_details; transcriptions: type "tokens"). */
function tokenUsage(answer: Record<string, any> | null): Usage | null {
  const u = answer?.usage;
  if (!isObject(u) || (u.type !== undefined && u.type !== 'tokens')) return null;
  if (typeof u.input_tokens !== 'number' && typeof u.output_tokens !== 'number') return null;
  const details = isObject(u.input_tokens_details) ? u.input_tokens_details : isObject(u.input_token_details) ? u.input_token_details : {};
  return {
    promptTokens: Math.floor(num(u.input_tokens)),
    completionTokens: Math.floor(num(u.output_tokens)),
    cachedTokens: Math.floor(num(details.cached_tokens)),
  };
}

/** The audio duration the answer reports, in ms (rounded up), or null. */
function reportedAudioMs(answer: Record<string, any> | null): number | null {
  if (!answer) return null;
  if (typeof answer.duration === 'number' && answer.duration >= 0) return Math.ceil(answer.duration * 1000);
  const u = answer.usage;
  if (isObject(u) && u.type === 'duration' && typeof u.seconds === 'number' && u.seconds >= 0) return Math.ceil(u.seconds * 1000);
  return null;
}

function record(
  c: RequestCharge,
  cost: bigint,
  reason: ChargeReason,
  unit: MediaUnit | null,
  units: number,
  usage: Usage | null,
  unitPrice: bigint | null = null,
): bigint {
  const held = c.reservation!.amount;
  const charged = cost > held ? held : cost;
  const log = c.log;
  // The unit price charged at (an image's depends on its size), beside the snapshot: GET /api/usage/:id shows the arithmetic.
  if (unitPrice !== null && log.pricing) log.pricing = `${log.pricing.slice(0, -1)},"unit_price":"${unitPrice}"}`;
  log.media_unit = unit;
  log.media_units = units;
  if (usage) {
    log.prompt_tokens = usage.promptTokens;
    log.completion_tokens = usage.completionTokens;
    log.cached_tokens = usage.cachedTokens;
  }
  log.usage_source = 'upstream';
  log.cost = charged;
  if (charged > 0n) log.charge_reason = renderChargeReason(reason) + (charged < cost ? ' (capped at the amount held)' : '');
  else log.charge_reason = renderChargeReason(isNotCharged(reason) ? reason : REASON.zeroCost);
  return charged;
}

/** A whole answer (images, transcriptions, translations) that went to the client with a 2xx: its cost, the log row filled. */
export function billMediaAnswer(c: RequestCharge, body: Buffer): bigint {
  const { price, group } = c;
  const m = c.call.media!;
  const mult = group.multiplierPpm;
  const answer = parseAnswer(body);
  const basis = mediaBasis(price, m);
  switch (basis) {
    case 'image': {
      const returned = Array.isArray(answer?.data) ? Math.min(answer.data.length, m.n) : 0;
      // record() keeps the total within what was held.
      const each = chargedImagePrice(price, m, answer);
      return record(c, computeMediaCost('image', returned, each, mult), REASON.completedResponse, 'image', returned, tokenUsage(answer), each);
    }
    case 'audio_ms': {
      const reported = reportedAudioMs(answer) ?? m.audioMs;
      if (reported === null) return record(c, 0n, REASON.mediaUnitsUnknown, 'audio_ms', 0, null);
      const ms = Math.min(reported, heldAudioMs(price, m));
      return record(c, computeMediaCost('audio_ms', ms, price.perSecond!, mult), REASON.completedResponse, 'audio_ms', ms, null, price.perSecond);
    }
    case 'request':
      return record(c, computeMediaCost('request', 1, price.perRequest!, mult), REASON.completedResponse, 'request', 1, tokenUsage(answer), price.perRequest);
    case 'character':
      return record(
        c,
        computeMediaCost('character', m.characters, price.inputPer1M, mult),
        REASON.completedResponse,
        'character',
        m.characters,
        null,
        price.inputPer1M,
      );
    case 'tokens': {
      const usage = tokenUsage(answer);
      if (!usage) return record(c, 0n, REASON.mediaUnitsUnknown, null, 0, null);
      const images = m.kind === 'image' && Array.isArray(answer?.data) ? answer.data.length : 0;
      return record(c, computeCost(price, usage, mult), REASON.completedResponse, m.kind === 'image' ? 'image' : null, images, usage);
    }
  }
}

/**
 * A speech answer streamed to the client. Charged in full (per character or
 * per request) when the audio completed, or when the client left after audio
 * began (the upstream made it all); not charged when the upstream broke off
 * the audio, or before any audio arrived.
 */
export function billMediaStream(c: RequestCharge, tap: MediaTap, upstreamBroke: boolean, clientGone: boolean): bigint {
  if (upstreamBroke || tap.bytes === 0) {
    c.log.error_code = clientGone ? 'client_disconnected' : 'upstream_disconnected';
    const reason = clientGone ? REASON.clientDisconnectedBeforeOutput : REASON.mediaBrokenOff;
    c.log.error_message = renderChargeReason(reason);
    return record(c, 0n, reason, null, 0, null);
  }
  const reason = clientGone ? REASON.outputBeforeClientDisconnect : REASON.completedStream;
  if (clientGone) {
    c.log.error_code = 'client_disconnected';
    c.log.error_message = renderChargeReason(reason);
  }
  return streamCost(c, reason);
}

function streamCost(c: RequestCharge, reason: ChargeReason): bigint {
  const { price, group } = c;
  const m = c.call.media!;
  if (mediaBasis(price, m) === 'request')
    return record(c, computeMediaCost('request', 1, price.perRequest!, group.multiplierPpm), reason, 'request', 1, null, price.perRequest);
  return record(
    c,
    computeMediaCost('character', m.characters, price.inputPer1M, group.multiplierPpm),
    reason,
    'character',
    m.characters,
    null,
    price.inputPer1M,
  );
}
