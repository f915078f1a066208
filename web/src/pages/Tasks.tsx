import { useEffect, useState } from 'react';
import { qs } from '../api.ts';
import { useI18n, errorText, type MessageKey, type T } from '../i18n.tsx';
import { Badge, Field, Link, Notice, PageTitle, Skeleton, Table } from '../components.tsx';
import { useApi } from '../useApi.ts';
import { navigate } from '../router.ts';
import { fromMicros, tidy } from '../money.ts';
import type { PageProps } from '../App.tsx';

// Asynchronous tasks (video generation): what each holds while it runs, what
// it was charged on completion or released on failure, and its timeline
// (GET /api/tasks, /api/tasks/:id). The staff 360° view reuses the table and
// the timeline with the admin routes.

export const TASK_STATUSES = ['submitting', 'queued', 'in_progress', 'completed', 'failed', 'cancelled', 'expired'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const LIVE_STATUSES: readonly string[] = ['submitting', 'queued', 'in_progress'];

export interface TaskRow {
  id: string;
  kind: string;
  model: string;
  status: TaskStatus;
  progress: number;
  seconds: number;
  size: string | null;
  prompt: string | null;
  key: string;
  held: string;
  reserved: string;
  charged: string;
  released: string;
  error: { code: string; message: string | null } | null;
  request_id: string;
  transfer_id: string | null;
  created_at: string;
  finished_at: string | null;
  deadline_at: string;
  deleted: boolean;
}
export interface TaskEvent {
  type: string;
  status: string | null;
  detail: Record<string, unknown> | null;
  at: string;
}
export interface TaskDetailView extends TaskRow {
  events: TaskEvent[];
}

export const statusLabel = (t: T, s: string) => {
  const key = `tasks.status.${s}` as MessageKey;
  const v = t(key);
  return v === key ? s : v;
};
const TONE: Record<string, 'ok' | 'warn' | 'bad' | 'muted'> = { completed: 'ok', failed: 'bad', expired: 'bad', cancelled: 'muted' };

export function TaskStatusBadge({ task }: { task: Pick<TaskRow, 'status' | 'progress'> }) {
  const { t } = useI18n();
  const live = LIVE_STATUSES.includes(task.status);
  return (
    <Badge tone={TONE[task.status] ?? 'warn'}>
      {statusLabel(t, task.status)}
      {live && task.status !== 'submitting' ? ` ${task.progress}%` : ''}
    </Badge>
  );
}

export function TaskTable({
  rows,
  caption,
  placeholderRows,
  onOpen,
}: {
  rows: TaskRow[] | null;
  caption: string;
  placeholderRows?: number;
  onOpen(r: TaskRow): void;
}) {
  const { t, fmtTime } = useI18n();
  const zeroDash = (s: string) => (s === '0.00' ? <span className="muted">—</span> : tidy(s));
  return (
    <Table
      caption={caption}
      rows={rows}
      placeholderRows={placeholderRows}
      rowKey={(r) => r.id}
      onRowClick={onOpen}
      rowLabel={(r) => `${r.model} ${statusLabel(t, r.status)} ${r.id}`}
      columns={[
        { key: 'created', label: t('tasks.created'), render: (r) => fmtTime(r.created_at) },
        {
          key: 'model',
          label: t('tasks.model'),
          render: (r) => (
            <>
              {r.model}
              <br />
              <span className="mono muted">{r.id}</span>
            </>
          ),
        },
        { key: 'status', label: t('tasks.status'), render: (r) => <TaskStatusBadge task={r} /> },
        { key: 'seconds', label: t('tasks.seconds'), numeric: true, render: (r) => r.seconds },
        { key: 'held', label: t('tasks.held'), numeric: true, render: (r) => tidy(r.held) },
        { key: 'reserved', label: t('tasks.reserved'), numeric: true, render: (r) => zeroDash(r.reserved) },
        { key: 'charged', label: t('tasks.charged'), numeric: true, render: (r) => zeroDash(r.charged) },
        { key: 'released', label: t('tasks.released'), numeric: true, render: (r) => zeroDash(r.released) },
        { key: 'error', label: t('tasks.error'), render: (r) => (r.error ? <span className="mono">{r.error.code}</span> : <span className="muted">—</span>) },
      ]}
    />
  );
}

// Event details carry money in micro-units ("800000"), as the ledger does.
const micros = (v: unknown) => {
  try {
    return fromMicros(BigInt(String(v ?? '0')));
  } catch {
    return '—';
  }
};

function eventText(t: T, e: TaskEvent): string {
  const d = e.detail ?? {};
  const vars = {
    held: micros(d.held),
    charged: micros(d.charged),
    released: micros(d.released),
    status: statusLabel(t, e.status ?? ''),
    progress: String(d.progress ?? 0),
    error: String(d.error_code ?? '—'),
  };
  const key = `tasks.ev.${e.type}` as MessageKey;
  const s = t(key, vars);
  return s === key ? e.type : s;
}

/** The task's timeline, oldest first: submitted and held, accepted, status changes, completed and charged, or released. */
export function TaskTimeline({ task }: { task: TaskDetailView }) {
  const { t, fmtTime } = useI18n();
  return (
    <ol className="timeline" aria-label={t('tasks.timeline')} data-testid="task-timeline">
      {task.events.map((e, i) => (
        <li key={i} className={`ev-${e.type}`}>
          <time dateTime={e.at}>{fmtTime(e.at)}</time> <span>{eventText(t, e)}</span>
        </li>
      ))}
    </ol>
  );
}

/** A task's facts, money and timeline; `path` is /api/tasks/:id or /api/admin/tasks/:id. Refreshes while the task runs. */
export function TaskCard({ path }: { path: string }) {
  const { t, fmtTime } = useI18n();
  const task = useApi<TaskDetailView>(path);
  const d = task.data;
  const live = d ? LIVE_STATUSES.includes(d.status) : false;
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(task.reload, 2000);
    return () => clearInterval(timer);
  }, [live, task.reload]);
  if (task.error)
    return <Notice kind="error">{(task.error as { status?: number }).status === 404 ? t('common.notFound') : errorText(t, task.error, 'tasks')}</Notice>;
  return (
    <section className="card detail" aria-labelledby="task-h" data-testid="task-detail">
      <h2 id="task-h" className="mono">
        {d ? d.id : <Skeleton width="16rem" />}
      </h2>
      <dl className="facts">
        <dt>{t('tasks.model')}</dt>
        <dd>{d ? `${d.model} · ${d.seconds}s${d.size ? ` · ${d.size}` : ''}` : <Skeleton width="8rem" />}</dd>
        <dt>{t('tasks.status')}</dt>
        <dd>{d ? <TaskStatusBadge task={d} /> : <Skeleton width="5rem" />}</dd>
        <dt>{t('tasks.held')}</dt>
        <dd data-testid="task-money">
          {d ? (
            t('tasks.money', { held: tidy(d.held), reserved: tidy(d.reserved), charged: tidy(d.charged), released: tidy(d.released) })
          ) : (
            <Skeleton width="14rem" />
          )}
        </dd>
        {d?.error && (
          <>
            <dt>{t('tasks.error')}</dt>
            <dd>
              <span className="mono">{d.error.code}</span> {d.error.message}
            </dd>
          </>
        )}
        <dt>{t('tasks.created')}</dt>
        <dd>{d ? fmtTime(d.created_at) : <Skeleton width="10rem" />}</dd>
        <dt>{live ? t('tasks.deadline') : t('tasks.finished')}</dt>
        <dd>{d ? fmtTime(live ? d.deadline_at : d.finished_at) : <Skeleton width="10rem" />}</dd>
        <dt>{t('tasks.request')}</dt>
        <dd className="mono">{d ? d.request_id : <Skeleton width="12rem" />}</dd>
        {d?.prompt && (
          <>
            <dt>{t('tasks.prompt')}</dt>
            <dd>{d.prompt}</dd>
          </>
        )}
      </dl>
      <h3>{t('tasks.timeline')}</h3>
      {d ? <TaskTimeline task={d} /> : <Skeleton height="4rem" />}
      <p className="muted">{t('tasks.rule')}</p>
    </section>
  );
}

export function Tasks({ search }: PageProps) {
  const { t } = useI18n();
  const initial = new URLSearchParams(search).get('status') ?? '';
  const [status, setStatus] = useState(TASK_STATUSES.includes(initial as TaskStatus) ? initial : '');
  const [before, setBefore] = useState<string | undefined>(undefined);
  const [rows, setRows] = useState<TaskRow[] | null>(null);
  const page = useApi<{ data: TaskRow[]; next_before: string | null }>(`/api/tasks${qs({ status, before, limit: 50 })}`);
  useEffect(() => {
    if (page.data) setRows((prev) => (before ? [...(prev ?? []), ...page.data!.data] : page.data!.data));
    else if (page.error) setRows([]);
  }, [page.data, page.error]);
  // A running task changes on its own: refresh the first page while one is live.
  const anyLive = (rows ?? []).some((r) => LIVE_STATUSES.includes(r.status));
  useEffect(() => {
    if (!anyLive || before) return;
    const timer = setInterval(page.reload, 3000);
    return () => clearInterval(timer);
  }, [anyLive, before, page.reload]);
  return (
    <>
      <PageTitle
        actions={
          <a className="button secondary" href={`/api/tasks.csv${qs({ status })}`} download>
            {t('tasks.csv')}
          </a>
        }
      >
        {t('tasks.title')}
      </PageTitle>
      <div className="card row wrap">
        <Field label={t('tasks.filter')}>
          {(id) => (
            <select
              id={id}
              name="status"
              value={status}
              onChange={(e) => {
                setRows(null);
                setBefore(undefined);
                setStatus(e.target.value);
              }}
            >
              <option value="">{t('tasks.all')}</option>
              {TASK_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {statusLabel(t, s)}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <section className="card" aria-label={t('tasks.title')}>
        {Boolean(page.error) && <Notice kind="error">{errorText(t, page.error)}</Notice>}
        <TaskTable caption={t('tasks.title')} rows={rows} onOpen={(r) => navigate(`/tasks/${r.id}`)} />
        {page.data?.next_before && (
          <div className="row center">
            <button type="button" className="secondary" onClick={() => setBefore(page.data!.next_before!)}>
              {t('common.loadMore')}
            </button>
          </div>
        )}
        <p className="muted">{t('tasks.rule')}</p>
      </section>
    </>
  );
}

export function TaskDetail({ params }: PageProps) {
  const { t } = useI18n();
  return (
    <>
      <PageTitle actions={<Link to="/tasks">{t('common.back')}</Link>}>{t('tasks.detail')}</PageTitle>
      <TaskCard path={`/api/tasks/${encodeURIComponent(params.id)}`} />
    </>
  );
}
