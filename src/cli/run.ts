import { loadConfig } from '../config/index.ts';
import { createContext, type AppContext } from '../context.ts';
import { createLogger } from '../context.ts';
import { emit, emitError, type OutputOptions } from './output.ts';

/**
 * Runs one CLI command with a context on the configured database (migrated
 * first, so every command works on a fresh install), prints its result and
 * closes the database. Errors print clearly and exit non-zero.
 */
export async function runCommand(
  opts: OutputOptions,
  fn: (ctx: AppContext) => Promise<{ result: Record<string, unknown>; human: string | string[]; exitCode?: number }>,
): Promise<void> {
  let ctx: AppContext | null = null;
  try {
    const config = loadConfig();
    ctx = await createContext(config, { log: createLogger({ logLevel: 'warn' }) });
    const { result, human, exitCode } = await fn(ctx);
    emit(opts, result, human);
    if (exitCode) process.exitCode = exitCode;
  } catch (e) {
    emitError(opts, e);
  } finally {
    await ctx?.close();
  }
}
