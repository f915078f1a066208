import type { Catalog } from '../gateway/catalog.ts';
import type { ModelPrice } from '../gateway/pricing.ts';
import { mayUseModel } from '../gateway/charge/admit.ts';
import { formatMoney } from '../ledger/money.ts';

// The public price list (GET /api/pricing, /pricing): every model Tally can
// serve (priced and routed) that the group may use, at the group's prices: the
// catalog price times the group multiplier, rounded up to the micro-unit like
// a charge. Anonymous visitors see the group new accounts join ('default').

export const DEFAULT_GROUP = 'default';

const times = (v: bigint, ppm: bigint) => (v * ppm + 999_999n) / 1_000_000n;
const opt = (v: bigint | null, ppm: bigint) => (v === null ? null : formatMoney(times(v, ppm)));

function modelLine(p: ModelPrice, ppm: bigint) {
  const media = p.perImage !== null || p.perSecond !== null || p.perRequest !== null;
  return {
    model: p.model,
    kind: p.kind,
    // Token prices, unless the model is priced only per image, second or request.
    ...(media && p.inputPer1M === 0n && p.outputPer1M === 0n
      ? {}
      : {
          input_per_1m: formatMoney(times(p.inputPer1M, ppm)),
          output_per_1m: formatMoney(times(p.outputPer1M, ppm)),
          cached_input_per_1m: opt(p.cachedInputPer1M, ppm),
        }),
    ...(p.perImage === null ? {} : { per_image: formatMoney(times(p.perImage, ppm)) }),
    ...(p.perSecond === null ? {} : { per_second: formatMoney(times(p.perSecond, ppm)) }),
    ...(p.perRequest === null ? {} : { per_request: formatMoney(times(p.perRequest, ppm)) }),
  };
}

export type PriceLine = ReturnType<typeof modelLine>;

export interface PriceList {
  currency: string;
  group: { name: string; multiplier: string };
  signed_in: boolean;
  models: PriceLine[];
}

export function publicPriceList(catalog: Catalog, input: { groupName: string | null; currency: string }): PriceList {
  const group = catalog.group(input.groupName ?? DEFAULT_GROUP);
  const models = catalog
    .servedModels()
    .filter((m) => mayUseModel({ models: null }, group, m))
    .map((m) => modelLine(catalog.prices.get(m)!, group.multiplierPpm));
  return {
    currency: input.currency,
    group: { name: group.name, multiplier: formatMoney(group.multiplierPpm, 1) },
    signed_in: input.groupName !== null,
    models,
  };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const TEXT = {
  zh: {
    title: '模型价格',
    intro: (l: PriceList) =>
      `${l.signed_in ? '你所在的分组' : '默认分组'}「${l.group.name}」的价格（倍率 ${l.group.multiplier}），单位 ${l.currency}：文本模型按每 100 万 token 计价，图像按张，音视频按秒，或按次。`,
    cols: ['模型', '类型', '输入 / 1M', '输出 / 1M', '缓存读取 / 1M', '每张图像', '每秒', '每次'],
    none: '暂无可用模型。',
  },
  en: {
    title: 'Model prices',
    intro: (l: PriceList) =>
      `Prices of ${l.signed_in ? 'your group' : 'the default group'} "${l.group.name}" (multiplier ${l.group.multiplier}), in ${l.currency}: text models per 1M tokens, images per image, audio and video per second, or per request.`,
    cols: ['Model', 'Kind', 'Input / 1M', 'Output / 1M', 'Cached input / 1M', 'Per image', 'Per second', 'Per request'],
    none: 'No models are available yet.',
  },
};

/** /pricing: the list as plain HTML (zh and en), readable without JavaScript. */
export function renderPricingPage(l: PriceList): string {
  const cell = (v: string | null | undefined) => `<td>${v === null || v === undefined ? '—' : esc(v)}</td>`;
  const rows = l.models
    .map(
      (m) =>
        `<tr><th scope="row"><code>${esc(m.model)}</code></th>${cell(m.kind)}${cell(m.input_per_1m)}${cell(m.output_per_1m)}${cell(m.cached_input_per_1m)}${cell(m.per_image)}${cell(m.per_second)}${cell(m.per_request)}</tr>`,
    )
    .join('');
  const part = (lang: 'zh' | 'en') => {
    const t = TEXT[lang];
    const table = l.models.length
      ? `<table><thead><tr>${t.cols.map((c) => `<th scope="col">${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table>`
      : `<p>${esc(t.none)}</p>`;
    return `<section lang="${lang === 'zh' ? 'zh-CN' : 'en'}"><h1>${esc(t.title)}</h1><p>${esc(t.intro(l))}</p>${table}</section>`;
  };
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>模型价格 / Model prices</title><style>body{font:16px/1.6 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left}td{font-variant-numeric:tabular-nums}section{margin:2rem 0}</style></head><body>${part('zh')}<hr>${part('en')}<p><a href="/api/pricing">/api/pricing</a> · <a href="/help">帮助中心 / Help center</a> · <a href="/console">控制台 / Console</a></p></body></html>`;
}
