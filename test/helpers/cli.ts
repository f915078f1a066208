import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { whileNoSchemaIsDropped } from './db.ts';

// The real `tally` command in a child process, as a user runs it.
const BIN = join(process.cwd(), 'bin', 'tally.mjs');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnTally(env: NodeJS.ProcessEnv, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `tally ...args`. Every command migrates first; on PostgreSQL that runs while no test schema may be dropped. */
export function runTally(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return env.TALLY_DATABASE_URL?.startsWith('postgres') ? whileNoSchemaIsDropped(() => spawnTally(env, args)) : spawnTally(env, args);
}

export interface Serving {
  /** Everything written so far. */
  readonly out: { stdout: string; stderr: string };
  /** Waits until stdout matches `re` (or the process ends, or the timeout passes) and returns the match. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then the exit. */
  stop(): Promise<number | null>;
}

/** `tally serve` in a child process with stdout and stderr piped (not a terminal), as a service manager runs it. */
export function startServe(env: NodeJS.ProcessEnv, ...args: string[]): Serving {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  let exited: number | null | undefined;
  const waiters = new Set<() => void>();
  const poke = () => waiters.forEach((w) => w());
  child.stdout.on('data', (d) => {
    out.stdout += d;
    poke();
  });
  child.stderr.on('data', (d) => {
    out.stderr += d;
    poke();
  });
  const closed = new Promise<number | null>((r) =>
    child.on('close', (code) => {
      exited = code;
      poke();
      r(code);
    }),
  );
  return {
    out,
    waitFor: (re, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = out.stdout.match(re);
          if (m) return done(() => resolve(m));
          if (exited !== undefined) return done(() => reject(new Error(`tally serve exited (${exited}) before printing ${re}:\n${out.stdout}\n${out.stderr}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${re}:\n${out.stdout}\n${out.stderr}`))), timeoutMs);
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      }),
    stop: async () => {
      if (exited === undefined) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await closed;
      clearTimeout(t);
      return code;
    },
  };
}
