import type { ModelStatus, StatusReport, WindowStatus } from './status.ts';

// /status as HTML that already lists its content (no JavaScript): search and
// answer engines read it, and it works when the console does not load.
// Chinese or English from ?lang= or Accept-Language.

export type StatusLang = 'zh' | 'en';

const TEXT = {
  en: {
    title: 'Service status',
    intro: 'Availability and latency of each model over the last 24 hours and 7 days, from live traffic and regular health probes.',
    model: 'Model',
    state: 'Status',
    avail24: 'Availability (24 h)',
    avail7: 'Availability (7 d)',
    p50: 'Latency p50',
    p95: 'Latency p95',
    requests: 'Requests (24 h)',
    hours: 'Last 24 hours',
    noModels: 'No model is being served right now.',
    none: 'no data',
    operational: 'Operational',
    degraded: 'Degraded',
    outage: 'Outage',
    unknown: 'No data',
    updated: 'Updated',
    other: '中文',
    pricing: 'Prices',
    help: 'Help center',
  },
  zh: {
    title: '服务状态',
    intro: '各模型最近 24 小时和 7 天的可用率与延迟，来自实际请求和定期健康探测。',
    model: '模型',
    state: '状态',
    avail24: '可用率（24 小时）',
    avail7: '可用率（7 天）',
    p50: '延迟 p50',
    p95: '延迟 p95',
    requests: '请求数（24 小时）',
    hours: '最近 24 小时',
    noModels: '当前没有可用的模型。',
    none: '无数据',
    operational: '正常',
    degraded: '性能下降',
    outage: '中断',
    unknown: '无数据',
    updated: '更新于',
    other: 'English',
    pricing: '价格',
    help: '帮助中心',
  },
} as const;

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** ?lang= wins; else the first of zh / en in Accept-Language; else English. */
export function statusLang(query: unknown, acceptLanguage: string | undefined): StatusLang {
  if (query === 'zh' || query === 'en') return query;
  const al = (acceptLanguage ?? '').toLowerCase();
  const zh = al.indexOf('zh');
  const en = al.indexOf('en');
  if (zh >= 0 && (en < 0 || zh < en)) return 'zh';
  return 'en';
}

const pct = (x: number | null, t: (typeof TEXT)[StatusLang]) => (x === null ? t.none : `${(x * 100).toFixed(2)}%`);
const ms = (x: number | null, t: (typeof TEXT)[StatusLang]) => (x === null ? t.none : `${x} ms`);

function hourCells(m: ModelStatus): string {
  return m.hours
    .map((h) => {
      const cls = h.availability === null ? 'n' : h.availability >= 0.99 ? 'g' : h.availability >= 0.9 ? 'y' : 'r';
      const label = `${h.hour.slice(0, 13)}:00Z ${h.availability === null ? '-' : `${(h.availability * 100).toFixed(1)}%`}`;
      return `<span class="h ${cls}" title="${esc(label)}"></span>`;
    })
    .join('');
}

function row(m: ModelStatus, t: (typeof TEXT)[StatusLang]): string {
  const d: WindowStatus = m.last_24h;
  return `<tr data-model="${esc(m.model)}"><td><code>${esc(m.model)}</code></td><td class="s ${m.state}">${esc(t[m.state])}</td><td>${pct(d.availability, t)}</td><td>${pct(m.last_7d.availability, t)}</td><td>${ms(d.latency_ms.p50, t)}</td><td>${ms(d.latency_ms.p95, t)}</td><td>${d.requests}</td><td class="hours">${hourCells(m)}</td></tr>`;
}

export function renderStatusPage(report: StatusReport, lang: StatusLang): string {
  const t = TEXT[lang];
  const other: StatusLang = lang === 'zh' ? 'en' : 'zh';
  const table = report.models.length
    ? `<table><thead><tr><th>${t.model}</th><th>${t.state}</th><th>${t.avail24}</th><th>${t.avail7}</th><th>${t.p50}</th><th>${t.p95}</th><th>${t.requests}</th><th>${t.hours}</th></tr></thead><tbody>${report.models.map((m) => row(m, t)).join('')}</tbody></table>`
    : `<p>${t.noModels}</p>`;
  return `<!doctype html><html lang="${lang === 'zh' ? 'zh-CN' : 'en'}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${t.title}</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #e5e5e5;vertical-align:middle}.s.operational{color:#15803d}.s.degraded{color:#b45309}.s.outage{color:#b91c1c}.s.unknown{color:#6b7280}.hours{white-space:nowrap}.h{display:inline-block;width:6px;height:18px;margin-right:1px;border-radius:1px}.h.g{background:#22c55e}.h.y{background:#f59e0b}.h.r{background:#ef4444}.h.n{background:#e5e7eb}</style></head><body><h1>${t.title}</h1><p>${t.intro}</p>${table}<p><small>${t.updated} ${esc(report.generated_at)}</small></p><p><a href="/status?lang=${other}">${t.other}</a> · <a href="/help">${t.help}</a> · <a href="/api/status">/api/status</a></p></body></html>`;
}
