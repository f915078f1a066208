import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { useI18n } from './i18n.tsx';
import { navigate, BASE } from './router.ts';

/** An in-console link: a real <a href> (open in new tab works), navigated without a reload. */
export function Link({
  to,
  children,
  className,
  ...rest
}: {
  to: string;
  children: ReactNode;
  className?: string;
  'aria-current'?: 'page' | undefined;
  'aria-label'?: string;
}) {
  return (
    <a
      href={BASE + to}
      className={className}
      {...rest}
      onClick={(e) => {
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

/** A grey block the size of what will load, so nothing moves when it arrives. */
export const Skeleton = ({ width = '100%', height = '1em' }: { width?: string; height?: string }) => (
  <span className="skeleton" style={{ width, height }} aria-hidden="true" />
);

export function Notice({ kind = 'info', children }: { kind?: 'info' | 'warn' | 'error' | 'ok'; children: ReactNode }) {
  return (
    <div className={`notice notice-${kind}`} role={kind === 'error' || kind === 'warn' ? 'alert' : 'status'}>
      {children}
    </div>
  );
}

export function Field({ label, hint, children }: { label: string; hint?: string; children: (id: string, describedBy?: string) => ReactNode }) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children(id, hintId)}
      {hint && <small id={hintId}>{hint}</small>}
    </div>
  );
}

export function PageTitle({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  useEffect(() => {
    if (typeof children === 'string') document.title = `${children} · Tally`;
  }, [children]);
  return (
    <div className="page-title">
      <h1 tabIndex={-1}>{children}</h1>
      {actions && <div className="actions">{actions}</div>}
    </div>
  );
}

/** A modal dialog (native <dialog>: focus trap, Esc to close, inert background). */
export function Dialog({ open, title, onClose, children }: { open: boolean; title: string; onClose(): void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} onClose={onClose} onCancel={onClose}>
      <h2 id={titleId}>{title}</h2>
      {open && children}
    </dialog>
  );
}

export function Confirm({
  open,
  title,
  message,
  onConfirm,
  onCancel,
  busy,
  children,
  confirmLabel,
}: {
  open: boolean;
  title: string;
  message: string;
  onConfirm(): void;
  onCancel(): void;
  busy?: boolean;
  children?: ReactNode;
  confirmLabel?: string;
}) {
  const { t } = useI18n();
  return (
    <Dialog open={open} title={title} onClose={onCancel}>
      <p>{message}</p>
      {children}
      <div className="row end">
        <button type="button" className="secondary" onClick={onCancel}>
          {t('common.cancel')}
        </button>
        <button type="button" className="danger" onClick={onConfirm} disabled={busy}>
          {confirmLabel ?? t('common.confirm')}
        </button>
      </div>
    </Dialog>
  );
}

export function CopyButton({ text }: { text: string }) {
  const { t } = useI18n();
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="secondary"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
        } catch {
          // Clipboard API refused (plain http, permissions): select the text for a manual copy.
          const el = document.querySelector<HTMLInputElement>('[data-copy-source]');
          el?.select();
        }
        setDone(true);
        setTimeout(() => setDone(false), 2000);
      }}
    >
      <span aria-live="polite">{done ? t('keys.copied') : t('keys.copy')}</span>
    </button>
  );
}

/**
 * A table that keeps its size while loading: `rows` placeholder lines until
 * data arrives. On a phone each row becomes a card (labels from data-label).
 */
export function Table<R>({
  caption,
  columns,
  rows,
  loading,
  placeholderRows = 5,
  rowKey,
  onRowClick,
  rowLabel,
}: {
  caption: string;
  columns: { key: string; label: string; render(r: R): ReactNode; numeric?: boolean; width?: string }[];
  rows: R[] | null;
  loading?: boolean;
  placeholderRows?: number;
  rowKey(r: R): string;
  onRowClick?(r: R): void;
  rowLabel?(r: R): string;
}) {
  const { t } = useI18n();
  return (
    <div className="table-wrap">
      <table className={onRowClick ? 'clickable' : undefined}>
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.key} scope="col" className={c.numeric ? 'num' : undefined} style={c.width ? { width: c.width } : undefined}>
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody aria-busy={loading || rows === null}>
          {rows === null ? (
            Array.from({ length: placeholderRows }, (_, i) => (
              <tr key={i} className="placeholder">
                {columns.map((c) => (
                  <td key={c.key} data-label={c.label}>
                    <Skeleton width="70%" />
                  </td>
                ))}
              </tr>
            ))
          ) : rows.length === 0 ? (
            <tr>
              <td colSpan={columns.length} className="empty">
                {t('common.none')}
              </td>
            </tr>
          ) : (
            rows.map((r) => (
              <tr
                key={rowKey(r)}
                onClick={onRowClick ? () => onRowClick(r) : undefined}
                onKeyDown={
                  onRowClick
                    ? (e) => {
                        if (e.key === 'Enter' || e.key === ' ') {
                          e.preventDefault();
                          onRowClick(r);
                        }
                      }
                    : undefined
                }
                tabIndex={onRowClick ? 0 : undefined}
                aria-label={rowLabel?.(r)}
              >
                {columns.map((c) => (
                  <td key={c.key} data-label={c.label} className={c.numeric ? 'num' : undefined}>
                    {c.render(r)}
                  </td>
                ))}
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}

export const Badge = ({ tone, children }: { tone: 'ok' | 'warn' | 'bad' | 'muted'; children: ReactNode }) => (
  <span className={`badge badge-${tone}`}>{children}</span>
);

export const splitList = (s: string) =>
  s
    .split(/[,\s]+/)
    .map((x) => x.trim())
    .filter(Boolean);

/**
 * A staff action behind a confirmation that asks for the reason (written to
 * the audit log). `onSubmit` gets the trimmed reason; its error stays in the dialog.
 */
export function ReasonDialog({
  open,
  title,
  message,
  onCancel,
  onSubmit,
  children,
  confirmLabel,
  minLength = 1,
}: {
  open: boolean;
  title: string;
  message: string;
  onCancel(): void;
  onSubmit(reason: string): Promise<void>;
  children?: ReactNode;
  confirmLabel?: string;
  minLength?: number;
}) {
  const { t } = useI18n();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (open) {
      setReason('');
      setError(null);
    }
  }, [open]);
  return (
    <Confirm
      open={open}
      title={title}
      message={message}
      busy={busy}
      confirmLabel={confirmLabel}
      onCancel={onCancel}
      onConfirm={async () => {
        if (reason.trim().length < minLength) {
          setError(t('admin.reasonRequired'));
          return;
        }
        setBusy(true);
        setError(null);
        try {
          await onSubmit(reason.trim());
        } catch (e) {
          setError((e as Error)?.message || t('common.error'));
        } finally {
          setBusy(false);
        }
      }}
    >
      {children}
      <Field label={t('admin.reason')}>
        {(id) => <textarea id={id} name="reason" required maxLength={500} rows={3} value={reason} onChange={(e) => setReason(e.target.value)} />}
      </Field>
      {error && <Notice kind="error">{error}</Notice>}
    </Confirm>
  );
}

/** Support sees emails masked (the Support issue's rule); an admin sees them and reveals other fields with a reason. */
export const maskEmail = (email: string) => {
  const [local, domain] = email.split('@');
  if (!domain) return '***';
  return `${local.length <= 2 ? `${local[0] ?? ''}*` : `${local[0]}***${local[local.length - 1]}`}@${domain}`;
};
export const shownEmail = (email: string, role: string) => (role === 'admin' ? email : maskEmail(email));

/** Segmented buttons (aria-pressed) for a small set of views. */
export function Segmented<V extends string>({
  label,
  value,
  options,
  onChange,
}: {
  label: string;
  value: V;
  options: { value: V; label: string }[];
  onChange(v: V): void;
}) {
  return (
    <div className="segmented" role="group" aria-label={label}>
      {options.map((o) => (
        <button
          key={o.value}
          type="button"
          className={o.value === value ? 'on' : 'secondary'}
          aria-pressed={o.value === value}
          onClick={() => onChange(o.value)}
        >
          {o.label}
        </button>
      ))}
    </div>
  );
}

/** Saves text as a file in the browser (CSV exports, generated codes). */
export function downloadText(name: string, text: string, type = 'text/csv;charset=utf-8') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
