import type { FastifyInstance } from 'fastify';
import { TallyError } from '../lib/errors.ts';

// Request bodies are JSON, and JSON can nest arbitrarily deep. V8's JSON.parse
// copes with 10,000 levels, but whatever walks the value afterwards with
// recursion does not: JSON.stringify in the prompt counter, a re-serialised
// upstream body, a validator. A body nested 10,000 deep made the relay answer
// 500 (a stack overflow). So every JSON body is refused above MAX_JSON_DEPTH
// levels before it is parsed, by one linear scan of the text that needs no
// stack at all; nothing downstream then has to care. 128 is far above any real
// request (a tool's JSON schema nests a few levels per object level).

export const MAX_JSON_DEPTH = 128;

/** More than `max` '{' and '[' in `text` (native searches: a 1 MB prompt with a handful of brackets costs microseconds). */
function opensMoreThan(text: string, max: number): boolean {
  let opens = 0;
  for (const ch of ['{', '[']) {
    for (let i = text.indexOf(ch); i !== -1; i = text.indexOf(ch, i + 1)) if (++opens > max) return true;
  }
  return false;
}

/** True when arrays/objects in `text` nest deeper than `max` (strings are skipped; no recursion, linear time). */
export function jsonNestsDeeperThan(text: string, max = MAX_JSON_DEPTH): boolean {
  if (text.length <= max || !opensMoreThan(text, max)) return false; // depth d needs at least d opening brackets
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

export function tooDeep(): TallyError {
  return new TallyError('json_too_deep', `the JSON body nests objects or arrays more than ${MAX_JSON_DEPTH} levels deep; send a flatter body`);
}

/** Parses a request body: 400 json_too_deep or invalid_json instead of anything thrown later. */
export function parseJsonBody(text: string): unknown {
  if (jsonNestsDeeperThan(text)) throw tooDeep();
  try {
    return JSON.parse(text);
  } catch {
    throw new TallyError('invalid_json', 'the request body is not valid JSON');
  }
}

/** fastify's JSON parser (prototype-poisoning checks included) behind the same depth limit, for every route that takes JSON. */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser(app.initialConfig.onProtoPoisoning ?? 'error', app.initialConfig.onConstructorPoisoning ?? 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonNestsDeeperThan(body as string)) return done(tooDeep(), undefined);
    parse(req, body as string, done);
  });
}
