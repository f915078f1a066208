import { TallyError } from '../../lib/errors.ts';

// What every protocol's parse step uses to check a request and name what is
// wrong: a 400 `invalid_request` with the field in `param`, and a short
// description of the value that was sent instead (never more than 20
// characters of it: a request body may hold anything).

export function bad(param: string, message: string): TallyError {
  return new TallyError('invalid_request', message, { param });
}

export const absent = (v: unknown) => v === undefined || v === null;

export const isObject = (v: unknown): v is Record<string, any> => !!v && typeof v === 'object' && !Array.isArray(v);

/** `the string "abc"`, `an array`, `number 5`: for "must be X, not <describe(v)>". */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '...' : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

/** `string "abc"`, `an array`, `number 5`: the terser form the Anthropic and Gemini checks use. */
export function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)?.slice(0, 20)}`;
}
