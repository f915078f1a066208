import type { Command } from 'commander';
import { loadConfig } from '../../config/index.ts';
import { startTally } from '../../app/start.ts';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FirstStart } from '../../accounts/bootstrap.ts';
import { displayKey } from '../../accounts/apiKeys.ts';
import { emitError } from '../output.ts';

/**
 * The first start's account details. Secrets (the admin and demo passwords,
 * the demo key) go to stdout only when it is a terminal a person reads; when
 * stdout is a pipe or a file (systemd, docker logs, a log collector keeps it)
 * they are written to a file only the owner can read, and the banner names it.
 */
function firstStartBanner(f: FirstStart, base: string, credentialsFile: string | null): string {
  const secret = (v: string, name: string) => (credentialsFile ? `(${name} in ${credentialsFile})` : v);
  const key = credentialsFile ? `${displayKey(f.demoKey)} (full key: demo_api_key in ${credentialsFile})` : f.demoKey;
  const bearer = credentialsFile ? '<demo_api_key>' : f.demoKey;
  // Still pasteable: the shell reads the key from the file.
  const curlBearer = credentialsFile ? `$(sed -n 's/^demo_api_key=//p' '${credentialsFile}')` : f.demoKey;
  const lines = [
    '',
    `  Tally is set up. This is ${credentialsFile ? 'written' : 'printed'} once, on the first start; keep it.`,
    '',
    `  Console   ${base}/console`,
    `  Admin     ${f.adminEmail} / ${secret(f.adminPassword, 'admin_password')}`,
  ];
  if (f.demoKey) {
    lines.push(
      `  Demo user ${f.demoEmail} / ${secret(f.demoPassword, 'demo_password')}  (balance 5.00)`,
      `  API key   ${key}`,
      '',
      '  Try it:',
      `    curl ${base}/v1/chat/completions \\`,
      `      -H "Authorization: Bearer ${curlBearer}" -H "Content-Type: application/json" \\`,
      `      -d '{"model":"demo-chat","messages":[{"role":"user","content":"Hello"}]}'`,
      '',
      '  Or with the OpenAI SDK:',
      `    const client = new OpenAI({ baseURL: '${base}/v1', apiKey: '${bearer}' });`,
      `    await client.chat.completions.create({ model: 'demo-chat', messages: [{ role: 'user', content: 'Hello' }] });`,
      '',
      '  Or Claude Code (the Anthropic Messages API, same key):',
      `    ANTHROPIC_BASE_URL=${base} ANTHROPIC_AUTH_TOKEN=${curlBearer} claude --model demo-chat`,
    );
  }
  if (credentialsFile) lines.push('', `  The passwords and the key are in ${credentialsFile} (readable by this user only): read them, then delete the file.`);
  lines.push('');
  return lines.join('\n');
}

/** Writes the first start's secrets to <data dir>/first-start-credentials.txt, mode 0600; returns its path. */
function writeCredentialsFile(dataDir: string, f: FirstStart, base: string): string {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'first-start-credentials.txt');
  const lines = [
    `# Tally first-start credentials (${new Date().toISOString()}, ${base}).`,
    '# Keep them somewhere safe, then delete this file.',
    `admin_email=${f.adminEmail}`,
    `admin_password=${f.adminPassword}`,
  ];
  if (f.demoKey) lines.push(`demo_email=${f.demoEmail}`, `demo_password=${f.demoPassword}`, `demo_api_key=${f.demoKey}`);
  // Created 0600; chmod as well, for a file left by an earlier first start (the mode applies only on creation).
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

export function serveCommand(program: Command) {
  program
    .command('serve')
    .description('start the gateway (HTTP API, console, payment callbacks)')
    .option('--port <n>', 'port to listen on (default TALLY_PORT or 8080)')
    .option('--host <addr>', 'address to bind (default TALLY_HOST or 0.0.0.0)')
    .option('--json', 'print one JSON object when ready')
    .action(async (o) => {
      try {
        const config = loadConfig();
        if (o.port !== undefined) {
          const p = Number(o.port);
          if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`--port must be a port number, got "${o.port}"`);
          config.port = p;
        }
        if (o.host) config.host = o.host;
        const t = await startTally(config);
        const base = config.publicUrl ?? `http://localhost:${t.port}`;
        // Loud and separate from the log stream: a sandbox left on, or cookies that may travel over plain HTTP.
        for (const w of t.warnings) process.stderr.write(`\n  WARNING: ${w}\n\n`);
        const f = t.firstStart;
        const credentialsFile = f && !process.stdout.isTTY ? writeCredentialsFile(config.dataDir, f, base) : null;
        if (o.json) {
          const firstStart =
            f && credentialsFile
              ? {
                  admin_email: f.adminEmail,
                  demo_email: f.demoEmail || null,
                  demo_key: f.demoKey ? displayKey(f.demoKey) : null,
                  credentials_file: credentialsFile,
                }
              : f;
          process.stdout.write(
            JSON.stringify({ ok: true, url: base, port: t.port, database: t.ctx.dialect, first_start: firstStart, warnings: t.warnings }) + '\n',
          );
        } else {
          if (f) process.stdout.write(firstStartBanner(f, base, credentialsFile) + '\n');
          t.ctx.log.info({ url: base, database: t.ctx.dialect }, 'Tally is listening');
        }
        const shutdown = async (signal: string) => {
          t.ctx.log.info({ signal }, 'shutting down');
          await t.stop();
          process.exit(0);
        };
        process.once('SIGINT', () => void shutdown('SIGINT'));
        process.once('SIGTERM', () => void shutdown('SIGTERM'));
      } catch (e) {
        emitError(o, e);
        process.exit(process.exitCode ?? 1);
      }
    });
}
