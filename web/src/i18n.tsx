import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { en, type MessageKey } from './i18n/en.ts';
import { zh } from './i18n/zh.ts';

export type { MessageKey };

export type Lang = 'en' | 'zh';
const DICTS: Record<Lang, Record<MessageKey, string>> = { en, zh };
const STORAGE_KEY = 'tally.lang';

function initialLang(): Lang {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === 'en' || saved === 'zh') return saved;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export type T = (key: MessageKey, vars?: Record<string, string | number>) => string;
interface I18n {
  lang: Lang;
  setLang(l: Lang): void;
  t: T;
  fmtTime(iso: string | null): string;
}
const Ctx = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  }, [lang]);
  const setLang = (l: Lang) => {
    localStorage.setItem(STORAGE_KEY, l);
    setLangState(l);
  };
  const t: T = (key, vars) => {
    let s = DICTS[lang][key] ?? key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
    return s;
  };
  const dtf = new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const fmtTime = (iso: string | null) => (iso ? dtf.format(new Date(iso)) : '—');
  return <Ctx.Provider value={{ lang, setLang, t, fmtTime }}>{children}</Ctx.Provider>;
}

export function useI18n(): I18n {
  const v = useContext(Ctx);
  if (!v) throw new Error('useI18n outside I18nProvider');
  return v;
}

/** A translated message for an API error: a known code (in the page's scope first), else the server's own message. */
export function errorText(t: T, e: unknown, scope?: string): string {
  const code = (e as { code?: string })?.code;
  if (code) for (const k of [scope ? `${scope}.err.${code}` : '', `err.${code}`]) if (k && k in en) return t(k as MessageKey);
  return (e as Error)?.message || t('common.error');
}
