// `npm run bench`: the relay benchmark. In one run on this machine it measures
// the mock upstream directly, a bare passthrough proxy (the ceiling), Tally
// with billing and logging on, and Portkey's gateway as the peer; Tally called
// with Anthropic's Messages API, passed through to an anthropic channel and
// translated to an OpenAI-compatible one (against the same bare proxy); the
// same for OpenAI's Responses API (passed through to a responses_api channel,
// translated to chat) and Gemini's generateContent (passed through to a gemini
// channel, translated to chat); then Tally's
// RSS with 1,000 open streams, and finally the ledger hold benchmark.
// Every server runs in its own process; the load generator (autocannon) runs here.
// BENCH_SECONDS sets the length of each measurement (default 8).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { setMaxListeners } from 'node:events';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const root = new URL('..', import.meta.url).pathname;
const children: ChildProcess[] = [];

function startProcess(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  ready: RegExp = /LISTENING (\d+)/,
): Promise<{ proc: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start: ${out.slice(-500)}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]) });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${out.slice(-500)}`)));
  });
}

interface LoadResult {
  rps: number;
  latency_avg_ms: number;
  latency_p50_ms: number;
  latency_p99_ms: number;
  non2xx: number;
  errors: number;
}

async function load(
  url: string,
  opts: { stream: boolean; connections: number; headers?: Record<string, string>; seconds?: number; model?: string; body?: string },
): Promise<LoadResult> {
  // Also a valid Anthropic Messages body (model, messages, max_tokens, stream).
  const body =
    opts.body ??
    JSON.stringify({
      model: opts.model ?? 'bench-model',
      messages: [{ role: 'user', content: 'Say sixteen words please.' }],
      stream: opts.stream,
      max_tokens: 64,
    });
  const run = (duration: number) =>
    autocannon({
      url,
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...(opts.headers ?? {}) },
      connections: opts.connections,
      duration,
      pipelining: 1,
    });
  await run(1); // warm-up
  const r = await run(opts.seconds ?? SECONDS);
  return {
    rps: Math.round(r.requests.average),
    latency_avg_ms: r.latency.average,
    latency_p50_ms: r.latency.p50,
    latency_p99_ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

/** Time to the first body byte of a streamed request, median over `n` sequential requests. */
async function firstByte(base: string, path: string, headers: Record<string, string>, n = 200): Promise<number> {
  const u = new URL(base);
  const pool = new Pool(u.origin, { connections: 1 });
  const times: number[] = [];
  const body = JSON.stringify({ model: 'bench-model', messages: [{ role: 'user', content: 'Say sixteen words please.' }], stream: true, max_tokens: 64 });
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    let first = 0;
    for await (const _c of res.body) {
      if (!first) first = performance.now() - t0;
    }
    if (i >= 10) times.push(first);
  }
  await pool.close();
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)] * 1000) / 1000;
}

function tally(args: string[], env: Record<string, string>): any {
  const r = spawnSync(process.execPath, ['bin/tally.mjs', ...args, '--json'], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tally ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

async function openStreams(base: string, key: string, count: number, pid: number): Promise<{ opened: number; rss: number }> {
  const pool = new Pool(base, { connections: count + 10, pipelining: 1 });
  const body = JSON.stringify({ model: 'slow-stream', messages: [{ role: 'user', content: 'hold on' }], stream: true, max_tokens: 64 });
  const ac = new AbortController();
  setMaxListeners(0, ac.signal); // one signal aborts all 1,000 requests
  let opened = 0;
  const all = Array.from({ length: count }, async () => {
    try {
      const res = await pool.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body,
        signal: ac.signal,
      });
      if (res.statusCode === 200) opened++;
      for await (const _c of res.body) {
        /* keep reading */
      }
    } catch {
      /* aborted */
    }
  });
  const deadline = Date.now() + 30_000;
  while (opened < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 2_000));
  const result = { opened, rss: rssMb(pid) };
  ac.abort();
  await Promise.allSettled(all);
  await pool.destroy();
  return result;
}

/** Passthrough against the bare proxy carrying the same protocol, translated against the bare proxy carrying chat. */
function ratiosOf(results: Record<string, any>, proto: string, b: any): Record<string, number> {
  const pass = results[`tally_${proto}_passthrough`];
  const tr = results[`tally_${proto}_translated`];
  const bareSame = results[`bare_proxy_${proto}`];
  if (!pass || !tr || !bareSame) return {};
  const r = (x: number, y: number) => +(x / Math.max(1, y)).toFixed(3);
  return {
    [`${proto}_passthrough_nonstream_vs_bare_${proto}`]: r(pass.nonstream_c32.rps, bareSame.nonstream_c32.rps),
    [`${proto}_passthrough_stream_vs_bare_${proto}`]: r(pass.stream_c32.rps, bareSame.stream_c32.rps),
    [`${proto}_translated_nonstream_vs_bare`]: r(tr.nonstream_c32.rps, b.nonstream_c32.rps),
    [`${proto}_translated_stream_vs_bare`]: r(tr.stream_c32.rps, b.stream_c32.rps),
  };
}

async function main() {
  const results: Record<string, any> = { date: new Date().toISOString(), machine: { cpus: cpus().length, loadavg_at_start: loadavg()[0] }, seconds: SECONDS };
  const mock = await startProcess(process.execPath, ['--import', 'tsx', 'bench/mockUpstream.ts', '0']);
  const mockUrl = `http://127.0.0.1:${mock.port}`;
  const bare = await startProcess(process.execPath, ['--import', 'tsx', 'bench/bareProxy.ts', '0', mockUrl]);

  const dir = mkdtempSync(join(tmpdir(), 'tally-bench-'));
  const env = {
    TALLY_DATABASE_URL: `sqlite:${join(dir, 'tally.db')}`,
    TALLY_SECRET: 'bench-secret-0123456789abcdef',
    TALLY_DEMO: 'off',
    TALLY_LOG_LEVEL: 'warn',
    // No channel probes during the measurements (their tiny requests would add to the load).
    TALLY_CHANNEL_PROBE_MS: '0',
    // TALLY_BENCH_METRICS=off runs the main Tally without metrics (for a trajectory with and without them).
    TALLY_METRICS: process.env.TALLY_BENCH_METRICS === 'off' ? 'off' : 'on',
  };
  tally(['model', 'set-price', '--model', 'bench-model', '--input', '0.15', '--output', '0.60'], env);
  tally(['model', 'set-price', '--model', 'slow-stream', '--input', '0.15', '--output', '0.60'], env);
  tally(['model', 'set-price', '--model', 'bench-claude', '--input', '0.15', '--output', '0.60'], env);
  tally(['model', 'set-price', '--model', 'bench-responses', '--input', '0.15', '--output', '0.60'], env);
  tally(['model', 'set-price', '--model', 'bench-gemini', '--input', '0.15', '--output', '0.60'], env);
  tally(
    [
      'channel',
      'add',
      '--name',
      'mock-responses',
      '--type',
      'openai',
      '--responses-api',
      '--base-url',
      `${mockUrl}/v1`,
      '--api-key',
      'sk-bench-upstream',
      '--models',
      'bench-responses',
    ],
    env,
  );
  tally(
    ['channel', 'add', '--name', 'mock-gemini', '--type', 'gemini', '--base-url', mockUrl, '--api-key', 'sk-bench-upstream', '--models', 'bench-gemini'],
    env,
  );
  tally(
    ['channel', 'add', '--name', 'mock-anthropic', '--type', 'anthropic', '--base-url', mockUrl, '--api-key', 'sk-bench-upstream', '--models', 'bench-claude'],
    env,
  );
  tally(
    [
      'channel',
      'add',
      '--name',
      'mock',
      '--type',
      'openai',
      '--base-url',
      `${mockUrl}/v1`,
      '--api-key',
      'sk-bench-upstream',
      '--models',
      'bench-model,slow-stream',
    ],
    env,
  );
  const user = tally(['admin', 'create-user', '--email', 'bench@tally.local', '--password', 'bench-password'], env);
  tally(['admin', 'credit', '--user', user.user.id, '--amount', '1000000.00', '--reason', 'benchmark funding'], env);
  const key = tally(['key', 'create', '--user', user.user.id, '--name', 'bench'], env).key as string;
  // Rate limits on the hot path: a key with a requests-per-minute limit it never reaches (every request is counted).
  const rpmKey = tally(['key', 'create', '--user', user.user.id, '--name', 'bench-rpm', '--rpm', '1000000'], env).key as string;
  const tallyProc = await startProcess(process.execPath, ['bin/tally.mjs', 'serve', '--port', '0', '--host', '127.0.0.1', '--json'], env, /"port":(\d+)/);
  const tallyUrl = `http://127.0.0.1:${tallyProc.port}`;
  const auth = { authorization: `Bearer ${key}` };
  // Diagnosis: TALLY_BENCH_TRAJECTORY=N measures Tally's chat throughput in N back-to-back 3-second slices from its
  // start and stops (how long it takes to reach its steady state).
  if (process.env.TALLY_BENCH_TRAJECTORY) {
    const slices: number[] = [];
    const idleAt = Number(process.env.TALLY_BENCH_TRAJECTORY_IDLE_AT ?? -1); // an idle pause (25 s) before this slice
    for (let i = 0; i < Number(process.env.TALLY_BENCH_TRAJECTORY); i++) {
      if (i === idleAt) await new Promise((r) => setTimeout(r, 25_000));
      const r = await autocannon({
        url: `${tallyUrl}/v1/chat/completions`,
        method: 'POST',
        body: JSON.stringify({ model: 'bench-model', messages: [{ role: 'user', content: 'Say sixteen words please.' }], max_tokens: 64 }),
        headers: { 'content-type': 'application/json', ...auth },
        connections: 32,
        duration: 3,
      });
      slices.push(Math.round(r.requests.average));
      process.stderr.write(`slice ${i}: ${slices[i]} rps\n`);
    }
    for (const p of [tallyProc, mock, bare]) p.proc.kill('SIGTERM');
    console.log(JSON.stringify({ trajectory_rps: slices }));
    process.exit(0);
  }

  let portkey: { port: number } | null = null;
  try {
    const pk = await startProcess(
      process.execPath,
      ['node_modules/@portkey-ai/gateway/build/start-server.js', '--port=18787', '--headless'],
      {},
      /localhost:(\d{4,5})[\s\S]*Ready/,
    );
    portkey = { port: pk.port };
  } catch (e) {
    results.portkey_error = String(e).slice(0, 300);
  }
  const pkHeaders = { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${mockUrl}/v1`, authorization: 'Bearer sk-bench-upstream' };

  const anthropicAuth = { 'x-api-key': key, 'anthropic-version': '2023-06-01' };
  const geminiAuth = { 'x-goog-api-key': key };
  /** name, url (non-stream), url when streamed (default: the same), headers, model, body (default: a chat/Messages body). */
  type Target = { name: string; url: string; streamUrl?: string; headers: Record<string, string>; model?: string; body?: (stream: boolean) => string };
  const responsesBody = (model: string) => (stream: boolean) =>
    JSON.stringify({ model, input: 'Say sixteen words please.', stream, max_output_tokens: 64, store: false });
  const geminiBody = () =>
    JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Say sixteen words please.' }] }], generationConfig: { maxOutputTokens: 64 } });
  const gemini = (name: string, base: string, model: string, headers: Record<string, string>): Target => ({
    name,
    url: `${base}/v1beta/models/${model}:generateContent`,
    streamUrl: `${base}/v1beta/models/${model}:streamGenerateContent?alt=sse`,
    headers,
    body: geminiBody,
  });
  const barePx = `http://127.0.0.1:${bare.port}`;
  const targets: Target[] = [
    { name: 'upstream', url: `${mockUrl}/v1/chat/completions`, headers: {} },
    { name: 'bare_proxy', url: `${barePx}/v1/chat/completions`, headers: {} },
    { name: 'tally', url: `${tallyUrl}/v1/chat/completions`, headers: auth },
    // Anthropic inbound: the same bare proxy carrying the Messages API, Tally passing it to an anthropic
    // channel, and Tally translating it to the OpenAI-compatible channel (bench-model).
    { name: 'bare_proxy_messages', url: `${barePx}/v1/messages`, headers: {} },
    { name: 'tally_messages_passthrough', url: `${tallyUrl}/v1/messages`, headers: anthropicAuth, model: 'bench-claude' },
    { name: 'tally_messages_translated', url: `${tallyUrl}/v1/messages`, headers: anthropicAuth, model: 'bench-model' },
    // Responses inbound (Codex CLI): passed through to a responses_api channel, translated to chat.
    { name: 'bare_proxy_responses', url: `${barePx}/v1/responses`, headers: {}, body: responsesBody('bench-responses') },
    { name: 'tally_responses_passthrough', url: `${tallyUrl}/v1/responses`, headers: auth, body: responsesBody('bench-responses') },
    { name: 'tally_responses_translated', url: `${tallyUrl}/v1/responses`, headers: auth, body: responsesBody('bench-model') },
    // Gemini inbound (Gemini CLI): passed through to a gemini channel, translated to chat.
    gemini('bare_proxy_gemini', barePx, 'bench-gemini', {}),
    gemini('tally_gemini_passthrough', tallyUrl, 'bench-gemini', geminiAuth),
    gemini('tally_gemini_translated', tallyUrl, 'bench-model', geminiAuth),
  ];
  if (portkey) targets.push({ name: 'portkey', url: `http://127.0.0.1:${portkey.port}/v1/chat/completions`, headers: pkHeaders });
  // The cost of a limit: a per-key RPM limit counted in memory, and the same on an instance sharing its limits through Redis.
  targets.push({ name: 'tally_rpm_memory', url: `${tallyUrl}/v1/chat/completions`, headers: { authorization: `Bearer ${rpmKey}` } });
  const redisUrl = process.env.TALLY_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
  let redisTally: Awaited<ReturnType<typeof startProcess>> | null = null;
  try {
    redisTally = await startProcess(
      process.execPath,
      ['bin/tally.mjs', 'serve', '--port', '0', '--host', '127.0.0.1', '--json'],
      { ...env, TALLY_REDIS_URL: redisUrl },
      /"port":(\d+)/,
    );
    targets.push({ name: 'tally_rpm_redis', url: `http://127.0.0.1:${redisTally.port}/v1/chat/completions`, headers: { authorization: `Bearer ${rpmKey}` } });
  } catch (e) {
    results.redis_error = String(e).slice(0, 300);
  }

  // The cost of the Prometheus metrics: the same relay on an instance started with TALLY_METRICS=off (compare with `tally`).
  let metricsOffTally: Awaited<ReturnType<typeof startProcess>> | null = null;
  try {
    metricsOffTally = await startProcess(
      process.execPath,
      ['bin/tally.mjs', 'serve', '--port', '0', '--host', '127.0.0.1', '--json'],
      { ...env, TALLY_METRICS: 'off' },
      /"port":(\d+)/,
    );
    targets.push({ name: 'tally_metrics_off', url: `http://127.0.0.1:${metricsOffTally.port}/v1/chat/completions`, headers: auth });
  } catch (e) {
    results.metrics_off_error = String(e).slice(0, 300);
  }

  // The first seconds after start run the relay's code cold (JIT, SQLite pages, the settlement worker's first
  // batches): a target measured right after its server started would be measured cold and the rest warm. Every
  // Tally server is warmed up for TALLY_BENCH_WARMUP seconds (default 5) so each target is measured in the steady state.
  const warmup = Number(process.env.TALLY_BENCH_WARMUP ?? 5);
  const tallyServers = new Set(targets.filter((t) => t.name.startsWith('tally')).map((t) => new URL(t.url).origin));
  if (warmup > 0) {
    for (const origin of tallyServers) {
      await autocannon({
        url: `${origin}/v1/chat/completions`,
        method: 'POST',
        body: JSON.stringify({ model: 'bench-model', messages: [{ role: 'user', content: 'warm up' }], max_tokens: 64 }),
        headers: { 'content-type': 'application/json', ...auth },
        connections: 32,
        duration: warmup,
      });
    }
  }
  for (const { name, url, streamUrl, headers, model, body } of targets) {
    results[name] = {
      nonstream_c32: await load(url, { stream: false, connections: 32, headers, model, body: body?.(false) }),
      stream_c32: await load(streamUrl ?? url, { stream: true, connections: 32, headers, model, body: body?.(true) }),
      nonstream_c1: await load(url, { stream: false, connections: 1, headers, model, body: body?.(false), seconds: Math.max(3, SECONDS / 2) }),
    };
    process.stderr.write(`${name}: ${JSON.stringify(results[name])}\n`);
  }
  results.first_byte_ms = {
    bare_proxy: await firstByte(`http://127.0.0.1:${bare.port}`, '/v1/chat/completions', {}),
    tally: await firstByte(tallyUrl, '/v1/chat/completions', auth),
  };

  if (redisTally) {
    redisTally.proc.kill('SIGTERM');
    await new Promise((r) => redisTally.proc.once('exit', r));
  }
  if (metricsOffTally) {
    metricsOffTally.proc.kill('SIGTERM');
    await new Promise((r) => metricsOffTally.proc.once('exit', r));
  }

  const rssAfterLoad = rssMb(tallyProc.proc.pid!);
  // The memory figure is taken on a fresh instance, so it measures 1,000 open
  // streams rather than how far the heap grew during the throughput runs.
  tallyProc.proc.kill('SIGTERM');
  await new Promise((r) => tallyProc.proc.once('exit', r));
  const fresh = await startProcess(process.execPath, ['bin/tally.mjs', 'serve', '--port', '0', '--host', '127.0.0.1', '--json'], env, /"port":(\d+)/);
  const freshUrl = `http://127.0.0.1:${fresh.port}`;
  await new Promise((r) => setTimeout(r, 1000));
  const rssIdle = rssMb(fresh.proc.pid!);
  const streams = await openStreams(freshUrl, key, 1000, fresh.proc.pid!);
  results.tally_rss_mb = { after_throughput_runs: rssAfterLoad, fresh_idle: rssIdle, at_1000_open_streams: streams.rss, streams_opened: streams.opened };

  const t = results.tally;
  const b = results.bare_proxy;
  results.ratios = {
    nonstream_vs_bare: +(t.nonstream_c32.rps / b.nonstream_c32.rps).toFixed(3),
    stream_vs_bare: +(t.stream_c32.rps / b.stream_c32.rps).toFixed(3),
    added_latency_c1_ms: +(t.nonstream_c1.latency_avg_ms - b.nonstream_c1.latency_avg_ms).toFixed(3),
    added_first_byte_ms: +(results.first_byte_ms.tally - results.first_byte_ms.bare_proxy).toFixed(3),
    // Anthropic inbound, against the same bare proxy (carrying OpenAI's and Anthropic's format alike).
    messages_passthrough_nonstream_vs_bare: +(results.tally_messages_passthrough.nonstream_c32.rps / b.nonstream_c32.rps).toFixed(3),
    messages_passthrough_stream_vs_bare: +(results.tally_messages_passthrough.stream_c32.rps / b.stream_c32.rps).toFixed(3),
    messages_passthrough_nonstream_vs_bare_messages: +(
      results.tally_messages_passthrough.nonstream_c32.rps / results.bare_proxy_messages.nonstream_c32.rps
    ).toFixed(3),
    messages_passthrough_stream_vs_bare_messages: +(results.tally_messages_passthrough.stream_c32.rps / results.bare_proxy_messages.stream_c32.rps).toFixed(3),
    messages_translated_nonstream_vs_bare: +(results.tally_messages_translated.nonstream_c32.rps / b.nonstream_c32.rps).toFixed(3),
    messages_translated_stream_vs_bare: +(results.tally_messages_translated.stream_c32.rps / b.stream_c32.rps).toFixed(3),
    rpm_limit_memory_nonstream_vs_bare: +(results.tally_rpm_memory.nonstream_c32.rps / b.nonstream_c32.rps).toFixed(3),
    rpm_limit_memory_nonstream_vs_unlimited: +(results.tally_rpm_memory.nonstream_c32.rps / t.nonstream_c32.rps).toFixed(3),
    ...(results.tally_rpm_redis
      ? {
          rpm_limit_redis_nonstream_vs_bare: +(results.tally_rpm_redis.nonstream_c32.rps / b.nonstream_c32.rps).toFixed(3),
          rpm_limit_redis_nonstream_vs_unlimited: +(results.tally_rpm_redis.nonstream_c32.rps / t.nonstream_c32.rps).toFixed(3),
          rpm_limit_redis_added_latency_c1_ms: +(results.tally_rpm_redis.nonstream_c1.latency_avg_ms - t.nonstream_c1.latency_avg_ms).toFixed(3),
        }
      : {}),
    ...(results.tally_metrics_off
      ? {
          metrics_on_vs_off_nonstream: +(t.nonstream_c32.rps / results.tally_metrics_off.nonstream_c32.rps).toFixed(3),
          metrics_on_vs_off_stream: +(t.stream_c32.rps / results.tally_metrics_off.stream_c32.rps).toFixed(3),
          metrics_off_nonstream_vs_bare: +(results.tally_metrics_off.nonstream_c32.rps / b.nonstream_c32.rps).toFixed(3),
          metrics_added_latency_c1_ms: +(t.nonstream_c1.latency_avg_ms - results.tally_metrics_off.nonstream_c1.latency_avg_ms).toFixed(3),
        }
      : {}),
    ...ratiosOf(results, 'responses', b),
    ...ratiosOf(results, 'gemini', b),
    ...(results.portkey
      ? {
          portkey_nonstream_vs_bare: +(results.portkey.nonstream_c32.rps / b.nonstream_c32.rps).toFixed(3),
          tally_vs_portkey_nonstream: +(t.nonstream_c32.rps / Math.max(1, results.portkey.nonstream_c32.rps)).toFixed(2),
        }
      : {}),
  };
  results.targets = { nonstream_vs_bare: '>= 0.60', stream_vs_bare: '>= 0.50', added_latency_c1_ms: '<= 0.5', rss_at_1000_streams_mb: '<= 250' };

  // Settled everything? The ledger must verify after the load.
  fresh.proc.kill('SIGTERM');
  await new Promise((r) => fresh.proc.once('exit', r));
  results.ledger_verify_ok = tally(['ledger', 'verify'], env).ok;

  mkdirSync(join(root, 'bench/results'), { recursive: true });
  const file = join(root, `bench/results/relay-${results.date.slice(0, 10)}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  console.log(
    JSON.stringify(
      { ratios: results.ratios, rss: results.tally_rss_mb, first_byte_ms: results.first_byte_ms, ledger_verify_ok: results.ledger_verify_ok },
      null,
      2,
    ),
  );
  console.log(`written to ${file}`);
  rmSync(dir, { recursive: true, force: true });
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGKILL');
    if (!process.exitCode && process.env.BENCH_SKIP_HOLDS !== '1') {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/holds.ts'], { cwd: root, stdio: 'inherit' });
      process.exitCode = r.status ?? 1;
    }
  });
