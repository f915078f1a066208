import { TallyError } from '../../lib/errors.ts';
import type { Group } from '../groups.ts';
import { costBound, computeMediaCost, DEFAULT_MAX_SECONDS, imagePrice, maxImagePrice, type MediaUnit, type ModelPrice } from '../pricing.ts';
import { insufficient, reserveOrRefresh } from '../charge/quote.ts';
import type { RelayDeps, RequestCharge } from '../charge/requestCharge.ts';
import { MEDIA_PATH, type MediaCall } from './call.ts';

// The quote step (charge/quote.ts) for an image or audio call: which way the
// model is priced for it (the basis), and the most it can cost, held before
// anything is sent. The basis, in order: per image (an image model with a
// per-image price), per second of audio (a transcription model with a
// per-second price), per request, per 1M input characters (a speech
// model's input price), else the tokens the answer reports (gpt-image-1,
// gpt-4o-transcribe). media/bill.ts charges on the same basis, never more
// than the hold.

export type MediaBasis = MediaUnit | 'tokens';

/** Formats whose answer carries no duration: a per-second request needs the length from the file (WAV) then. */
const NO_DURATION_FORMATS = new Set(['text', 'srt', 'vtt']);

export function mediaBasis(price: ModelPrice, m: MediaCall): MediaBasis {
  if (m.kind === 'image' && price.perImage !== null) return 'image';
  if (m.kind === 'transcription' && price.perSecond !== null) return 'audio_ms';
  if (price.perRequest !== null) return 'request';
  if (m.kind === 'speech') return 'character';
  return 'tokens';
}

const named = (v: string | null): string | null => (v === null || v === 'auto' ? null : v);

/** The price of one image held for this request: exact when it names its size and quality, else the highest they can cost. */
export function heldImagePrice(price: ModelPrice, m: MediaCall): bigint {
  const size = named(m.size);
  const quality = named(m.quality);
  return size !== null && quality !== null ? imagePrice(price, size, quality)! : maxImagePrice(price, size)!;
}

/** The price of one image charged: at the size and quality asked, else those the answer says it made (gpt-image-1), else the defaults. */
export function chargedImagePrice(price: ModelPrice, m: MediaCall, answer: Record<string, any> | null): bigint {
  const said = (v: unknown) => (typeof v === 'string' ? v : null);
  return imagePrice(price, named(m.size) ?? said(answer?.size), named(m.quality) ?? said(answer?.quality))!;
}

/** Audio milliseconds held for a per-second request: the file's own length, else the model's max_seconds. */
export const heldAudioMs = (price: ModelPrice, m: MediaCall): number => m.audioMs ?? (price.maxSeconds ?? DEFAULT_MAX_SECONDS) * 1000;

/**
 * Token bound of a token-priced media call: the text prompt's bytes (no
 * tokenizer makes more tokens than bytes) plus, per input image (or, for a
 * transcription, for the audio), the model's max output tokens as input; and
 * max output tokens per image asked for.
 */
export function mediaTokenBound(price: ModelPrice, m: MediaCall): { prompt: number; output: number } {
  const perItem = price.maxOutputTokens;
  const inputItems = m.kind === 'transcription' ? 1 : m.inputImages;
  return { prompt: m.promptBytes + inputItems * perItem, output: m.n * perItem };
}

export function mediaHold(price: ModelPrice, m: MediaCall, multiplierPpm: bigint, basis: MediaBasis): bigint {
  switch (basis) {
    case 'image':
      return computeMediaCost('image', m.n, heldImagePrice(price, m), multiplierPpm);
    case 'audio_ms':
      return computeMediaCost('audio_ms', heldAudioMs(price, m), price.perSecond!, multiplierPpm);
    case 'request':
      return computeMediaCost('request', 1, price.perRequest!, multiplierPpm);
    case 'character':
      return computeMediaCost('character', m.characters, price.inputPer1M, multiplierPpm);
    case 'tokens': {
      const b = mediaTokenBound(price, m);
      return costBound(price, b.prompt, b.output, multiplierPpm);
    }
  }
}

export async function quoteMedia(d: RelayDeps, c: RequestCharge): Promise<void> {
  const { call, price, group, principal } = c;
  const m = call.media!;
  if (price.kind !== m.kind) {
    throw new TallyError(
      'invalid_request',
      `"${call.model}" is ${article(price.kind)} ${price.kind} model; POST ${MEDIA_PATH[call.endpoint]} needs ${article(m.kind)} ${m.kind} model`,
      {
        param: 'model',
      },
    );
  }
  const basis = mediaBasis(price, m);
  if (basis === 'audio_ms' && m.audioMs === null && NO_DURATION_FORMATS.has(m.responseFormat ?? '')) {
    throw new TallyError(
      'invalid_request',
      `"${call.model}" is priced per second of audio, and a ${m.responseFormat} answer does not say how long the audio was; ask for response_format json or verbose_json, or send a WAV file`,
      { param: 'response_format' },
    );
  }
  c.estimate = { count: 0, bound: 0 };
  const reservation = await reserveOrRefresh(d, principal, mediaHold(price, m, group.multiplierPpm, basis));
  if (!('walletId' in reservation)) throw insufficient(reservation);
  c.reservation = reservation;
  c.log.held = reservation.amount;
  c.log.pricing = mediaSnapshot(price, group, basis);
}

const article = (word: string) => (/^[aeiou]/.test(word) ? 'an' : 'a');

const opt = (v: bigint | null) => (v === null ? null : String(v));

function mediaSnapshot(price: ModelPrice, group: Group, basis: MediaBasis): string {
  return JSON.stringify({
    basis,
    kind: price.kind,
    input_per_1m: String(price.inputPer1M),
    output_per_1m: String(price.outputPer1M),
    cached_input_per_1m: opt(price.cachedInputPer1M),
    per_image: opt(price.perImage),
    per_image_sizes: price.perImageSizes ? Object.fromEntries(Object.entries(price.perImageSizes).map(([k, v]) => [k, String(v)])) : null,
    per_second: opt(price.perSecond),
    per_request: opt(price.perRequest),
    max_seconds: price.maxSeconds,
    multiplier_ppm: String(group.multiplierPpm),
    group: group.name,
  });
}
