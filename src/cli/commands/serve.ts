import type { Command } from 'commander';
import { loadConfig } from '../../config/index.ts';
import { startTally } from '../../app/start.ts';
import type { FirstStart } from '../../accounts/bootstrap.ts';
import { emitError } from '../output.ts';

function firstStartBanner(f: FirstStart, base: string): string {
  const lines = [
    '',
    '  Tally is set up. This is printed once, on the first start; keep it.',
    '',
    `  Console   ${base}/console`,
    `  Admin     ${f.adminEmail} / ${f.adminPassword}`,
  ];
  if (f.demoKey) {
    lines.push(
      `  Demo user ${f.demoEmail} / ${f.demoPassword}  (balance 5.00)`,
      `  API key   ${f.demoKey}`,
      '',
      '  Try it:',
      `    curl ${base}/v1/chat/completions \\`,
      `      -H "Authorization: Bearer ${f.demoKey}" -H "Content-Type: application/json" \\`,
      `      -d '{"model":"demo-chat","messages":[{"role":"user","content":"Hello"}]}'`,
      '',
      '  Or with the OpenAI SDK:',
      `    const client = new OpenAI({ baseURL: '${base}/v1', apiKey: '${f.demoKey}' });`,
      `    await client.chat.completions.create({ model: 'demo-chat', messages: [{ role: 'user', content: 'Hello' }] });`,
    );
  }
  lines.push('');
  return lines.join('\n');
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
        if (o.json) process.stdout.write(JSON.stringify({ ok: true, url: base, port: t.port, database: t.ctx.dialect, first_start: t.firstStart }) + '\n');
        else {
          if (t.firstStart) process.stdout.write(firstStartBanner(t.firstStart, base) + '\n');
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
