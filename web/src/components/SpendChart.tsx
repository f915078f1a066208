import { useI18n } from '../i18n.tsx';
import { fromMicros } from '../money.ts';

export interface Series {
  name: string;
  days: bigint[];
  total: bigint;
  count: number;
}

const W = 600;
const H = 200;
const PAD_BOTTOM = 18;
const COLORS = 8; // series past the 8th are drawn together as "other"

/** Daily stacked bars in plain SVG; the exact figures are in the legend and in each bar's <title>. */
export function SpendChart({ series, start, label }: { series: Series[]; start: number; label: string }) {
  const { t, lang } = useI18n();
  const shown = series.slice(0, COLORS - 1);
  const rest = series.slice(COLORS - 1);
  const stacks: Series[] = rest.length
    ? [...shown, { name: t('dash.other'), days: Array.from({ length: 30 }, (_, d) => rest.reduce((a, s) => a + s.days[d], 0n)), total: 0n, count: 0 }]
    : shown;
  const dayTotals = Array.from({ length: 30 }, (_, d) => stacks.reduce((a, s) => a + s.days[d], 0n));
  const max = dayTotals.reduce((a, b) => (b > a ? b : a), 1n);
  const bw = W / 30;
  const plotH = H - PAD_BOTTOM;
  const fmtDay = new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', { month: 'numeric', day: 'numeric' });
  return (
    <div className="chart-frame">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} className="chart">
        <line x1="0" x2={W} y1={plotH} y2={plotH} className="axis" />
        {dayTotals.map((_, d) => {
          let y = plotH;
          const day = new Date(start + d * 86_400_000);
          return (
            <g key={d}>
              <title>{`${fmtDay.format(day)}: ${fromMicros(dayTotals[d])}`}</title>
              {stacks.map((s, i) => {
                if (s.days[d] === 0n) return null;
                const h = Math.max(1, (Number((s.days[d] * 10_000n) / max) / 10_000) * (plotH - 4));
                y -= h;
                return <rect key={s.name} x={d * bw + 2} y={y} width={bw - 4} height={h} className={`c${i}`} />;
              })}
              {(d % 7 === 0 || d === 29) && d !== 28 && (
                // The first and last labels are anchored inside the chart so they are never clipped.
                <text x={d === 0 ? 0 : d === 29 ? W : d * bw + bw / 2} y={H - 4} textAnchor={d === 0 ? 'start' : d === 29 ? 'end' : 'middle'} className="tick">
                  {fmtDay.format(day)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </div>
  );
}
