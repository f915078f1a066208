// CSV as RFC 4180 writes it (CRLF line ends; a field with a comma, quote or
// line break is quoted, quotes doubled), made safe to open in a spreadsheet:
// a text cell starting with = + - @ (or a tab or CR) would run as a formula
// (OWASP "CSV injection"), so it gets a leading apostrophe. A plain number
// such as -0.50 cannot be a formula and stays a number.

const NUMBER = /^-?\d+(\.\d+)?$/;
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (!NUMBER.test(s) && FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** A whole file: the header line, then one line per row. The BOM makes Excel read UTF-8 (Chinese reasons). */
export function toCsv(header: readonly string[], rows: Iterable<ReadonlyArray<string | number | boolean | null | undefined>>): string {
  const lines = [header.map(csvCell).join(',')];
  for (const r of rows) lines.push(r.map(csvCell).join(','));
  return `\ufeff${lines.join('\r\n')}\r\n`;
}

/** Headers for a CSV download named `name` (attachment, never rendered inline). */
export const csvHeaders = (name: string) => ({
  'content-type': 'text/csv; charset=utf-8',
  'content-disposition': `attachment; filename="${name.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
});
