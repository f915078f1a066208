// `node --import tsx bench/promptEstimate.ts`: what reading and counting a
// request's prompt costs on the event loop, per request shape. For each body
// it times the steps the relay runs before the hold (parse with the depth
// check, check the billing fields, collect the prompt, estimate it): "on the
// loop" is the time until the estimate returns (a number for a small prompt,
// a promise when the counting thread takes it), "total" until the count is
// known. The small request is also timed the way it was counted before
// (gpt-tokenizer straight on the joined text), for comparison.
import { countTokens } from 'gpt-tokenizer/encoding/cl100k_base';
import { parseJsonBody } from '../src/app/jsonBody.ts';
import type { Inbound } from '../src/gateway/call.ts';
import { estimatePrompt } from '../src/gateway/promptEstimate.ts';
import { openaiProtocol } from '../src/gateway/protocols/openai/index.ts';
import { parseOpenAICall } from '../src/gateway/protocols/openai/parse.ts';

function chinese(chars: number): string {
  const common =
    '的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严龙飞';
  let seed = 42;
  let out = '';
  while (out.length < chars) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    out += common[seed % common.length];
  }
  return out;
}

function english(bytes: number): string {
  const words = [
    'the',
    'ledger',
    'records',
    'every',
    'transfer',
    'twice,',
    'once',
    'as',
    'a',
    'debit',
    'and',
    'once',
    'as',
    'a',
    'credit.',
    'Support',
    'staff',
    'read',
    'it',
    'to',
    'answer',
    'questions',
    'about',
    'balances',
    'orders',
    'refunds',
    'and',
    'redeem',
    'codes.',
  ];
  let out = '';
  for (let i = 0; out.length < bytes; i++) out += words[(i * 7) % words.length] + (i % 17 === 16 ? '\n' : ' ');
  return out.slice(0, bytes);
}

const chat = (content: string) =>
  JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content },
    ],
    max_tokens: 256,
  });
const SMALL = chat('Hello! Can you explain in two sentences what double-entry bookkeeping is, and why a gateway that bills API calls would use it?');

const cases: Array<[string, string, number]> = [
  [`small chat request (${SMALL.length} B)`, SMALL, 2000],
  [`3 KB chat request`, chat(english(3000)), 500],
  ['4 KB of English', chat(english(4096)), 200],
  ['1 MB of ordinary English', chat(english(1_000_000)), 3],
  ['1 MB of one repeated character', chat('a'.repeat(1_000_000)), 3],
  ['200 KB of Chinese (68,000 characters)', chat(chinese(68_000)), 3],
  ['200,000 characters of Chinese (600 KB)', chat(chinese(200_000)), 3],
];

async function once(raw: string): Promise<{ parse: number; loop: number; total: number; count: number | null; bound: number }> {
  const t0 = performance.now();
  const body = parseJsonBody(raw) as Record<string, any>;
  const t1 = performance.now();
  const call = parseOpenAICall({ protocol: openaiProtocol, endpoint: 'chat.completions', body, raw } as Inbound);
  const est = estimatePrompt(call.prompt);
  const loop = performance.now() - t1;
  const e = est instanceof Promise ? await est : est;
  return { parse: t1 - t0, loop, total: performance.now() - t1, count: e.count, bound: e.bound };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Warm up the tokenizer, the JIT and the counting thread.
for (let i = 0; i < 200; i++) await once(SMALL);
await once(chat(chinese(20_000)));

for (const [name, raw, runs] of cases) {
  const parses: number[] = [];
  const loops: number[] = [];
  const totals: number[] = [];
  let last = { count: null as number | null, bound: 0 };
  for (let i = 0; i < runs; i++) {
    const r = await once(raw);
    parses.push(r.parse);
    loops.push(r.loop);
    totals.push(r.total);
    last = r;
  }
  console.log(
    `${name.padEnd(40)} parse ${median(parses).toFixed(3).padStart(8)} ms   estimate on the loop ${median(loops).toFixed(3).padStart(8)} ms, until counted ${median(totals).toFixed(1).padStart(7)} ms   count ${String(last.count).padStart(7)}   hold bound ${last.bound}`,
  );
}

// The small request counted the way it was before this change (the text joined, counted in one call).
const small = JSON.parse(SMALL);
const t0 = performance.now();
for (let i = 0; i < 2000; i++) countTokens(small.messages.map((m: { content: string }) => m.content + '\n').join(''));
console.log(
  `${'small chat request, before'.padEnd(40)}                     estimate on the loop ${((performance.now() - t0) / 2000).toFixed(3).padStart(8)} ms`,
);
process.exit(0);
