import { TallyError } from '../../../../lib/errors.ts';

// Reads a multipart/form-data body (RFC 7578) just enough to bill it: where
// each part starts and ends, its name, filename and content-type, and the
// text of the small fields (model, n, size, response_format...). File parts
// are never copied: a part is a byte range of the body as received, which is
// sent upstream byte for byte. One pass of Buffer.indexOf over the body:
// linear in its size, whatever the parts contain.

export interface FormPart {
  name: string;
  /** Set for a file part (filename="..."), even when empty. */
  filename: string | null;
  contentType: string | null;
  /** The part's content: bytes[start, end). */
  start: number;
  end: number;
}

export interface FormData {
  /** The boundary read (the one the parts were split on). */
  boundary: string;
  parts: FormPart[];
  /** The text fields (parts without a filename; each name at most once, array fields name[] aside). */
  fields: Map<string, string>;
  /** The byte range of each text field's first value (to rewrite the model name in place). */
  ranges: Map<string, { start: number; end: number }>;
}

/** More parts than any OpenAI media request has (16 images, a mask and a dozen fields). */
const MAX_PARTS = 256;
const MAX_HEADER_BYTES = 8 * 1024;
/** The longest text field read (gpt-image-1's prompt: 32,000 characters). */
const MAX_FIELD_BYTES = 256 * 1024;

const HEADER_END = Buffer.from('\r\n\r\n');
/** The fields Tally bills by: never taken from a file part. */
const BILLED_FIELDS = new Set(['model', 'n', 'size', 'quality', 'prompt', 'response_format', 'stream', 'partial_images', 'seconds']);

function bad(message: string): TallyError {
  return new TallyError('invalid_request', `the multipart/form-data body is malformed: ${message}`);
}

/** The boundary of a multipart/form-data content-type, or null. */
export function formBoundary(contentType: string): string | null {
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : null;
}

/**
 * How many times a header names `param` (its RFC 2231 `param*` spelling too), quoted strings aside. A parameter
 * named twice is refused: parsers disagree on which one wins (Tally's regexes take the first, Werkzeug the last),
 * so the upstream could read another boundary or field name than the one Tally billed.
 */
function paramCount(header: string, param: string): number {
  return header.replace(/"[^"]*"/g, '""').match(new RegExp(`;\\s*${param}\\*?\\s*=`, 'gi'))?.length ?? 0;
}

/** The content-type sent upstream: rebuilt from the boundary Tally split the body on, nothing else of the caller's. */
export function formContentType(boundary: string): string {
  return /^[A-Za-z0-9'+_.-]+$/.test(boundary) ? `multipart/form-data; boundary=${boundary}` : `multipart/form-data; boundary="${boundary}"`;
}

function headerParam(header: string, param: string): string | null {
  const m = new RegExp(`;\\s*${param}="([^"]*)"`, 'i').exec(header) ?? new RegExp(`;\\s*${param}=([^;\\s]*)`, 'i').exec(header);
  return m ? m[1] : null;
}

export function parseForm(bytes: Buffer, contentType: string): FormData {
  const boundary = formBoundary(contentType);
  if (!boundary) throw bad('its content-type has no boundary');
  if (paramCount(contentType, 'boundary') > 1) throw bad('its content-type names the boundary more than once; send one boundary parameter');
  const delim = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  const parts: FormPart[] = [];
  const fields = new Map<string, string>();
  const ranges = new Map<string, { start: number; end: number }>();
  let pos = bytes.indexOf(delim);
  if (pos < 0) throw bad('no part starts with its boundary');
  pos += delim.length;
  for (;;) {
    if (bytes[pos] === 0x2d && bytes[pos + 1] === 0x2d) break; // "--": the closing boundary
    if (bytes[pos] !== 0x0d || bytes[pos + 1] !== 0x0a) throw bad('a boundary is not followed by a line break');
    pos += 2;
    const headerEnd = bytes.indexOf(HEADER_END, pos);
    if (headerEnd < 0 || headerEnd - pos > MAX_HEADER_BYTES) throw bad('a part has no end to its headers');
    const headers = bytes.toString('utf8', pos, headerEnd).split('\r\n');
    let disposition: string | null = null;
    let type: string | null = null;
    for (const h of headers) {
      const colon = h.indexOf(':');
      const k = h.slice(0, colon).trim().toLowerCase();
      if (k === 'content-disposition') {
        // Which of two Content-Disposition headers wins differs between parsers (here the last, Werkzeug the first).
        if (disposition !== null) throw bad('a part has more than one Content-Disposition header; send one');
        disposition = h.slice(colon + 1);
      } else if (k === 'content-type') type = h.slice(colon + 1).trim();
    }
    disposition ??= '';
    if (paramCount(disposition, 'name') > 1) throw bad('a part names its field more than once in its Content-Disposition (name=...; name=...); send one name');
    const name = headerParam(disposition, 'name');
    if (name === null) throw bad('a part has no name in its content-disposition');
    const start = headerEnd + 4;
    const end = bytes.indexOf(next, start);
    if (end < 0) throw bad('the body ends before its closing boundary (was it cut short?)');
    const filename = headerParam(disposition, 'filename');
    parts.push({ name, filename, contentType: type, start, end });
    if (parts.length > MAX_PARTS) throw bad(`more than ${MAX_PARTS} parts`);
    // A field sent twice is refused, not read once: Tally would bill the first value and an upstream may use the last
    // (model=cheap then model=dear, n=1 then n=10). Only array fields (name[]) and files repeat.
    if (!name.endsWith('[]') && (fields.has(name) || (filename !== null && BILLED_FIELDS.has(name))))
      throw new TallyError('invalid_request', `the form field ${name} appears more than once (or as a file); send it once`, { param: name });
    if (filename === null && !name.endsWith('[]')) {
      if (end - start > MAX_FIELD_BYTES)
        throw new TallyError('invalid_request', `the form field ${name} is longer than ${MAX_FIELD_BYTES} bytes`, { param: name });
      fields.set(name, bytes.toString('utf8', start, end));
      ranges.set(name, { start, end });
    }
    pos = end + next.length;
  }
  return { boundary, parts, fields, ranges };
}
