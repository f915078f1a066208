import { HELP_PAGES, type HelpPage } from './pages.ts';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const list = (items: string[]) => `<ul>${items.map((i) => `<li>${esc(i)}</li>`).join('')}</ul>`;
const shell = (title: string, body: string) =>
  `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)}</title><style>body{font:16px/1.6 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}section{margin:2rem 0}pre{background:#f5f5f5;padding:.75rem;border-radius:6px;overflow-x:auto}.answer{font-size:1.05rem;background:#f5f5f5;padding:1rem;border-radius:6px}</style></head><body>${body}<p><a href="/help">帮助中心 / Help center</a> · <a href="/help/index.json">index.json</a> · <a href="/llms.txt">llms.txt</a></p></body></html>`;

/** A set-up page's steps, files to copy and limits (absent on the other pages). */
function setup(p: HelpPage, lang: 'zh' | 'en'): string {
  const zh = lang === 'zh';
  const steps = p.steps ? `<h2>${zh ? '设置步骤' : 'Set-up'}</h2><ol>${p.steps[lang].map((i) => `<li>${esc(i)}</li>`).join('')}</ol>` : '';
  const snippets = (p.snippets ?? []).map((x) => `<h3>${esc(x.title[lang])}</h3><pre><code>${esc(x.text)}</code></pre>`).join('');
  const limits = p.limits ? `<h2>${zh ? '不支持或有限制的功能' : 'What does not work'}</h2>${list(p.limits[lang])}` : '';
  return steps + snippets + limits;
}

export function renderHelpPage(p: HelpPage): string {
  const part = (lang: 'zh' | 'en') =>
    `<section lang="${lang === 'zh' ? 'zh-CN' : 'en'}"><h1>${esc(p.title[lang])}</h1><p class="answer">${esc(p.answer[lang])}</p>${setup(p, lang)}<h2>${lang === 'zh' ? '适用情况' : 'When it applies'}</h2>${list(p.applies[lang])}<h2>${lang === 'zh' ? '需要准备的信息' : 'Evidence to collect'}</h2>${list(p.evidence[lang])}</section>`;
  return shell(`${p.title.zh} / ${p.title.en}`, part('zh') + '<hr>' + part('en'));
}

export function renderHelpIndex(): string {
  return shell(
    '帮助中心 / Help center',
    `<h1>帮助中心 / Help center</h1><ul>${HELP_PAGES.map((p) => `<li><a href="/help/${p.slug}">${esc(p.title.zh)}<br>${esc(p.title.en)}</a></li>`).join('')}</ul>`,
  );
}

export function helpIndexJson(base = '') {
  return {
    pages: HELP_PAGES.map((p) => ({
      slug: p.slug,
      url: `${base}/help/${p.slug}`,
      title: p.title,
      short_answer: p.answer,
      applies_when: p.applies,
      evidence: p.evidence,
      case_classes: p.cases,
      ...(p.steps ? { steps: p.steps } : {}),
      ...(p.snippets ? { snippets: p.snippets } : {}),
      ...(p.limits ? { limits: p.limits } : {}),
    })),
  };
}

export function llmsTxt(base = ''): string {
  return [
    '# Tally',
    '',
    '> Self-hosted OpenAI-compatible AI API gateway with a double-entry ledger: one base URL and one sk- key for many models; every payment, redeem code, request charge, refund and compensation is an immutable ledger entry support can explain.',
    '',
    '## Help',
    '',
    ...HELP_PAGES.map((p) => `- [${p.title.en}](${base}/help/${p.slug}): ${p.answer.en.split('. ')[0]}.`),
    '',
    '## Machine-readable',
    '',
    `- [Help index](${base}/help/index.json): every page with its short answer (Chinese and English), when it applies and what evidence to collect`,
    '',
  ].join('\n');
}
