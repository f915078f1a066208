import { isTallyError, TallyError } from '../../lib/errors.ts';
import type { Inbound } from '../call.ts';
import { estimatePrompt } from '../promptEstimate.ts';
import { classifyStatus } from '../upstreamErrors.ts';
import { authenticateKey, checkKeyRpm, checkModel } from './admit.ts';
import type { RelayDeps } from './requestCharge.ts';
import { orderChannels } from './route.ts';

// Counting endpoints: Anthropic's POST /v1/messages/count_tokens and Gemini's
// POST /v1beta/models/{model}:countTokens: how many input tokens a request
// would take. Never charged and not logged as a request (Claude Code sends
// dozens a second at start-up, and for /context and auto-compaction), but it
// needs a valid key and counts against the key's requests per minute. The
// count comes from an upstream that can count for the model and speaks the
// caller's protocol (an anthropic channel for an Anthropic caller, a gemini
// channel for a Gemini one: its tokenizer, its numbers; the provider's
// countTokens builds the request and readCount reads the answer), else from
// Tally's own count of the prompt (cl100k: close, not exact). The answer is
// in the caller's shape (Protocol.countAnswer).

function answer(inb: Inbound, inputTokens: number): void {
  const body = JSON.stringify(inb.protocol.countAnswer?.(inputTokens) ?? { input_tokens: inputTokens });
  const id = inb.requestId;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'x-request-id': id };
  if (inb.protocol.requestIdHeader) headers[inb.protocol.requestIdHeader] = id;
  inb.res.writeHead(200, headers);
  inb.res.end(body);
}

async function count(d: RelayDeps, inb: Inbound): Promise<number> {
  const principal = await authenticateKey(d, inb);
  await checkKeyRpm(d, principal, inb.requestId, inb.res);
  const call = inb.protocol.parse(inb);
  checkModel(d.catalog, principal, call.model);
  for (const ch of orderChannels(d.catalog, call.model)) {
    const provider = ch.provider;
    if (!provider?.countTokens || !provider.readCount || provider.wire !== call.protocol.name) continue;
    try {
      const res = await ch.pool.request(provider.countTokens(ch, call, ch.modelMap[call.model] ?? call.model));
      const text = await res.body.text();
      if (res.statusCode === 200) {
        const n = provider.readCount(text);
        if (n !== null && Number.isSafeInteger(n) && n >= 0) return n;
        continue;
      }
      const failure = classifyStatus(res.statusCode, text, ch.apiKey, ch.name, null);
      // The request itself is wrong (another channel, or Tally's count, would only hide it).
      if (!failure.failover) throw failure.error;
    } catch (e) {
      if (isTallyError(e)) throw e;
      // Unreachable, or not JSON: the next channel, else Tally's own count.
    }
  }
  const est = estimatePrompt(call.prompt);
  const e = est instanceof Promise ? await est : est;
  return e.count ?? e.bound;
}

export async function countTokens(d: RelayDeps, inb: Inbound): Promise<void> {
  try {
    answer(inb, await count(d, inb));
  } catch (e) {
    const err = isTallyError(e) ? e : new TallyError('internal_error', 'an internal error occurred; it has been logged with this request id', { cause: e });
    if (!isTallyError(e)) d.log.error({ err: e, requestId: inb.requestId }, 'count_tokens failed');
    if (!inb.res.headersSent) inb.protocol.writeError(inb.res, err, inb.requestId);
  }
}
