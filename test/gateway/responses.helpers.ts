import OpenAI from 'openai';
import type { TestTally } from '../helpers/tally.ts';
import type { ResponsesUsage } from '../helpers/mockResponses.ts';
import type { Usage } from '../../src/gateway/pricing.ts';

// Shared by the Responses relay suites (test/gateway/responses.*.test.ts).

/** The official openai SDK pointed at a test Tally (retries off), and the x-request-id of its last answer (streams included). */
export function responsesSdk(t: TestTally, apiKey: string, prefix = '/v1') {
  const ids: Array<string | null> = [];
  const client = new OpenAI({
    baseURL: `${t.url}${prefix}`,
    apiKey,
    maxRetries: 0,
    fetch: async (url: any, init: any) => {
      const r = await fetch(url, init);
      ids.push(r.headers.get('x-request-id'));
      return r;
    },
  });
  return { client, lastId: () => ids.at(-1) ?? null };
}

/** The mock's Responses usage as Tally must bill it: input_tokens includes the cached ones, output_tokens the reasoning ones. */
export function billedUsage(u: ResponsesUsage): Usage {
  return { promptTokens: u.input_tokens, completionTokens: u.output_tokens, cachedTokens: u.cached_tokens ?? 0 };
}

/** The fixture's request replayed as raw HTTP with its own headers, Tally's key in place of the client's. */
export function replayFixture(t: TestTally, f: { method: string; path: string; headers: Record<string, string>; body: unknown }, key: string, body = f.body) {
  const headers: Record<string, string> = { ...f.headers, authorization: `Bearer ${key}` };
  delete headers['accept-encoding'];
  return fetch(`${t.url}${f.path}`, { method: f.method, headers, body: JSON.stringify(body) });
}
