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
