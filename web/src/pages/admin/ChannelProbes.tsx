import { useI18n } from '../../i18n.tsx';
import { Badge } from '../../components.tsx';

// The channel page's probe history and recent errors (GET /api/admin/channels
// carries them: src/ops/channelHealth.ts), and the way to the public status page.

export interface ProbeView {
  at: string;
  ok: boolean;
  model: string;
  status: number;
  latency_ms: number;
  error_class: string | null;
  error_message: string | null;
}

export interface ChannelHealth {
  id: string;
  name: string;
  auto_recover?: boolean;
  auto_disabled?: boolean;
  last_probe?: ProbeView | null;
  probes?: ProbeView[];
  recent_errors?: Array<{ at: string; source: 'probe' | 'relay'; message: string; error_class?: string | null; status?: number }>;
}

const time = (iso: string) => iso.replace('T', ' ').slice(0, 19);

export function ChannelProbes({ channels }: { channels: ChannelHealth[] }) {
  const { t } = useI18n();
  return (
    <section className="card" aria-labelledby="ch-probes-h">
      <h2 id="ch-probes-h">{t('ops.probes.title')}</h2>
      <p className="muted">
        {t('ops.probes.intro')}{' '}
        <a href="/status" target="_blank" rel="noreferrer">
          {t('ops.probes.statusLink')}
        </a>
      </p>
      {channels.map((c) => (
        <div key={c.id} className="probe-channel" data-channel={c.name}>
          <h3>
            {c.name}{' '}
            <Badge tone={c.auto_recover === false ? 'muted' : 'ok'}>
              {c.auto_recover === false ? t('ops.probes.autoRecoverOff') : t('ops.probes.autoRecoverOn')}
            </Badge>{' '}
            {c.auto_disabled && <Badge tone="bad">{t('ops.probes.autoDisabled')}</Badge>}
          </h3>
          <h4>{t('ops.probes.recentErrors')}</h4>
          {c.recent_errors?.length ? (
            <ul className="recent-errors">
              {c.recent_errors.map((e) => (
                <li key={`${e.source}-${e.at}`}>
                  <small className="mono">{time(e.at)}</small> · {e.source === 'probe' ? t('ops.probes.sourceProbe') : t('ops.probes.sourceRelay')}
                  {e.error_class ? ` · ${e.error_class}` : ''}
                  {e.status ? ` · ${e.status}` : ''} · {e.message}
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">{t('ops.probes.noErrors')}</p>
          )}
          <h4>{t('ops.probes.history')}</h4>
          {c.probes?.length ? (
            <div className="table-wrap">
              <table aria-label={`${t('ops.probes.history')} ${c.name}`}>
                <thead>
                  <tr>
                    <th>{t('ops.probes.at')}</th>
                    <th>{t('ops.probes.result')}</th>
                    <th>{t('ops.probes.httpStatus')}</th>
                    <th>{t('ops.probes.latency')}</th>
                    <th>{t('ops.probes.class')}</th>
                    <th>{t('ops.probes.message')}</th>
                  </tr>
                </thead>
                <tbody>
                  {c.probes.map((p) => (
                    <tr key={p.at}>
                      <td className="mono">{time(p.at)}</td>
                      <td>{p.ok ? <Badge tone="ok">{t('ops.probes.ok')}</Badge> : <Badge tone="bad">{t('ops.probes.failed')}</Badge>}</td>
                      <td>{p.status || '—'}</td>
                      <td>{p.latency_ms} ms</td>
                      <td>{p.error_class ?? '—'}</td>
                      <td>{p.error_message ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <p className="muted">{t('ops.probes.none')}</p>
          )}
        </div>
      ))}
    </section>
  );
}
