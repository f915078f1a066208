// Log lines: readable (pino-pretty) when asked or on a terminal, JSON lines
// otherwise; either way an API key, a cookie or a password never appears.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/context.ts';
import { loadConfig } from '../../src/config/index.ts';

function sink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => lines.join('') };
}

const SECRET = 'sk-live-should-never-be-logged-0123456789';

function logSomething(format: 'pretty' | 'json') {
  const out = sink();
  const log = createLogger({ logLevel: 'info', ops: { logFormat: format } }, out.stream as never);
  log.info(
    { req: { headers: { authorization: `Bearer ${SECRET}`, cookie: `tally_session=${SECRET}` } }, user: { password: SECRET } },
    'channel probe: channel healthy again',
  );
  return out.text();
}

test('pretty format: a readable line, secrets redacted', () => {
  const text = logSomething('pretty');
  assert.match(text, /INFO/);
  assert.match(text, /channel probe: channel healthy again/);
  assert.throws(() => JSON.parse(text.split('\n')[0]), 'not a JSON line');
  assert.ok(!text.includes(SECRET), text);
  assert.match(text, /\[redacted\]/);
});

test('json format: one JSON object a line, secrets redacted', () => {
  const text = logSomething('json');
  const line = JSON.parse(text.trim().split('\n')[0]);
  assert.equal(line.msg, 'channel probe: channel healthy again');
  assert.equal(line.req.headers.authorization, '[redacted]');
  assert.ok(!text.includes(SECRET));
});

test('TALLY_LOG_FORMAT takes auto, pretty or json', () => {
  assert.equal(loadConfig({ TALLY_SECRET: 'x'.repeat(16) }).ops.logFormat, 'auto');
  assert.equal(loadConfig({ TALLY_SECRET: 'x'.repeat(16), TALLY_LOG_FORMAT: 'pretty' }).ops.logFormat, 'pretty');
  assert.throws(() => loadConfig({ TALLY_SECRET: 'x'.repeat(16), TALLY_LOG_FORMAT: 'fancy' }), /TALLY_LOG_FORMAT/);
});
