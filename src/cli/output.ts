import { isTallyError } from '../lib/errors.ts';

export interface OutputOptions {
  json?: boolean;
}

const replacer = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

/** Prints a command's result: one JSON object with --json, else readable lines. */
export function emit(opts: OutputOptions, result: Record<string, unknown>, human: string | string[]): void {
  if (opts.json) process.stdout.write(JSON.stringify(result, replacer) + '\n');
  else process.stdout.write((Array.isArray(human) ? human.join('\n') : human) + '\n');
}

/** Prints an error the same two ways and sets a non-zero exit code. */
export function emitError(opts: OutputOptions, e: unknown): void {
  const code = isTallyError(e) ? e.code : ((e as { code?: string })?.code ?? 'error');
  const message = e instanceof Error ? e.message : String(e);
  if (opts.json) process.stdout.write(JSON.stringify({ ok: false, error: { code, message } }) + '\n');
  else process.stderr.write(`error: ${message}${isTallyError(e) ? ` (${code})` : ''}\n`);
  process.exitCode = isTallyError(e) && e.status < 500 ? 2 : 1;
}
