import type { DbOrTx } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { TallyError } from '../lib/errors.ts';
import { encryptSecret, decryptSecret } from '../lib/crypto.ts';
import { isUniqueViolation } from '../db/index.ts';
import type { ChannelsTable } from '../db/schema.ts';
import { SUPPORTED_CHANNEL_TYPES } from './providers/index.ts';
import { AZURE_DEFAULT_API_VERSION } from './providers/azure/request.ts';

export type ChannelType = ChannelsTable['type'];
export type ChannelStatus = ChannelsTable['status'];
/** Every type a channel row may have; only those with a provider adapter (providers/index.ts) can be created or routed. */
export const CHANNEL_TYPES: ChannelType[] = ['openai', 'anthropic', 'gemini', 'azure', 'demo'];

export interface Channel {
  id: string;
  name: string;
  type: ChannelType;
  baseUrl: string;
  models: string[];
  modelMap: Record<string, string>;
  priority: number;
  weight: number;
  connectTimeoutMs: number;
  firstByteTimeoutMs: number;
  totalTimeoutMs: number;
  status: ChannelStatus;
  statusReason: string | null;
  hasApiKey: boolean;
  /** Azure OpenAI: the api-version sent with every request; null for other types. */
  apiVersion: string | null;
  /** An openai channel whose upstream speaks OpenAI's Responses API natively (POST <base>/responses): Responses callers pass through. */
  responsesApi: boolean;
  /** The indexes of the channel's upstream keys an upstream refused (401/403): out of rotation until an operator looks. */
  keysAttention: number[];
  /** Probes enable it again after consecutive healthy probes when Tally disabled it (src/ops/probes.ts). */
  autoRecover: boolean;
  /** It needs attention because Tally (a probe, the relay) took it out of rotation, not an operator. */
  autoDisabled: boolean;
  createdAt: number;
  updatedAt: number;
}

/** A channels row as selected (the probe columns of 0024 read as plain numbers; absent on a row built in memory). */
type ChannelRow = Omit<ChannelsTable, 'auto_recover' | 'auto_disabled' | 'probe_ok_streak' | 'probe_slot'> & {
  auto_recover?: number | bigint;
  auto_disabled?: number | bigint;
};

export function rowToChannel(r: ChannelRow): Channel {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    baseUrl: r.base_url,
    models: JSON.parse(r.models),
    modelMap: r.model_map ? JSON.parse(r.model_map) : {},
    priority: Number(r.priority),
    weight: Number(r.weight),
    connectTimeoutMs: Number(r.connect_timeout_ms),
    firstByteTimeoutMs: Number(r.first_byte_timeout_ms),
    totalTimeoutMs: Number(r.total_timeout_ms),
    status: r.status,
    statusReason: r.status_reason ?? null,
    hasApiKey: !!r.api_key_enc,
    apiVersion: r.api_version ?? null,
    responsesApi: Number(r.responses_api ?? 0) === 1,
    keysAttention: r.keys_attention ? JSON.parse(r.keys_attention) : [],
    autoRecover: Number(r.auto_recover ?? 1) === 1,
    autoDisabled: Number(r.auto_disabled ?? 0) === 1,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export interface ChannelInput {
  name: string;
  type: ChannelType;
  baseUrl: string;
  apiKey?: string | null;
  /** Several upstream keys, rotated, each with its own breaker (apiKey, if also given, is the first). */
  apiKeys?: string[];
  /** Azure OpenAI only: the api-version (e.g. 2024-10-21). */
  apiVersion?: string | null;
  /** openai channels only: the upstream also speaks the Responses API natively. */
  responsesApi?: boolean;
  models: string[];
  modelMap?: Record<string, string>;
  priority?: number;
  weight?: number;
  connectTimeoutMs?: number;
  firstByteTimeoutMs?: number;
  totalTimeoutMs?: number;
}

/** Parses "public=upstream,other=up2" (the CLI's --map). */
export function parseModelMap(s: string | undefined | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!s) return out;
  for (const pair of s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [k, v] = pair.split('=').map((x) => x?.trim());
    if (!k || !v) throw new TallyError('invalid_model_map', `model map entry "${pair}" must look like public=upstream`, { param: 'map' });
    out[k] = v;
  }
  return out;
}

function validate(input: ChannelInput): void {
  if (!input.name?.trim() || input.name.length > 100) throw new TallyError('invalid_name', 'channel name must be 1 to 100 characters', { param: 'name' });
  if (!CHANNEL_TYPES.includes(input.type)) throw new TallyError('invalid_channel_type', `type must be one of ${CHANNEL_TYPES.join(', ')}`, { param: 'type' });
  // A type listed before its provider adapter exists would be sent another wire format (which it does not speak).
  if (!SUPPORTED_CHANNEL_TYPES.includes(input.type)) {
    const usable = SUPPORTED_CHANNEL_TYPES.filter((t) => t !== 'demo').join(', ');
    throw new TallyError(
      'unsupported_channel_type',
      `this version cannot send requests to "${input.type}" channels; it supports: ${usable} (openai: any OpenAI-compatible upstream)`,
      { param: 'type' },
    );
  }
  if (input.type !== 'demo') {
    let u: URL;
    try {
      u = new URL(input.baseUrl);
    } catch {
      throw new TallyError('invalid_base_url', `base URL "${input.baseUrl}" is not a URL such as https://api.openai.com/v1`, { param: 'base_url' });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TallyError('invalid_base_url', 'base URL must be http or https', { param: 'base_url' });
  }
  if (input.apiVersion != null && input.type !== 'azure')
    throw new TallyError('invalid_request', 'an api-version is only for azure channels', { param: 'api_version' });
  if (input.type === 'azure' && input.apiVersion != null && !/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(input.apiVersion))
    throw new TallyError('invalid_request', `api-version "${input.apiVersion}" must look like 2024-10-21 or 2025-04-01-preview`, { param: 'api_version' });
  if (input.responsesApi && input.type !== 'openai')
    throw new TallyError(
      'invalid_request',
      'responses_api is only for openai channels (an upstream that serves POST <base>/responses); other channel types get Responses callers translated',
      { param: 'responses_api' },
    );
  for (const k of input.apiKeys ?? [])
    if (typeof k !== 'string' || !k.trim() || k.length > 500)
      throw new TallyError('invalid_request', 'each upstream API key must be 1 to 500 characters', { param: 'api_keys' });
  if (!Array.isArray(input.models) || input.models.length === 0)
    throw new TallyError('invalid_models', 'a channel must serve at least one model', { param: 'models' });
  for (const m of input.models)
    if (typeof m !== 'string' || !m.trim() || m.length > 200)
      throw new TallyError('invalid_models', 'each model name must be 1 to 200 characters', { param: 'models' });
  for (const [k, v] of [
    ['priority', input.priority],
    ['weight', input.weight],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 1_000_000))
      throw new TallyError(`invalid_${k}`, `${k} must be a whole number from 0 to 1000000`, { param: k });
  }
  for (const [param, v] of [
    ['connect_timeout_ms', input.connectTimeoutMs],
    ['first_byte_timeout_ms', input.firstByteTimeoutMs],
    ['total_timeout_ms', input.totalTimeoutMs],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 100 || v > 24 * 3_600_000))
      throw new TallyError('invalid_timeout', `${param} must be a whole number of milliseconds from 100 to 86400000`, { param });
  }
}

/** The two key columns for a key list: the first key alone (as before several keys existed) and, for two or more, all of them. */
function keyColumns(secret: string, keys: string[]): { api_key_enc: string | null; api_keys_enc: string | null } {
  return {
    api_key_enc: keys.length ? encryptSecret(secret, keys[0]) : null,
    api_keys_enc: keys.length > 1 ? encryptSecret(secret, JSON.stringify(keys)) : null,
  };
}

/** Every upstream key of a channel input, deduplicated, in order (apiKey first). */
export function inputKeys(input: Pick<ChannelInput, 'apiKey' | 'apiKeys'>): string[] {
  const keys: string[] = [];
  for (const k of [input.apiKey, ...(input.apiKeys ?? [])]) if (k && !keys.includes(k.trim())) keys.push(k.trim());
  return keys;
}

export async function createChannel(db: DbOrTx, secret: string, input: ChannelInput, now = Date.now()): Promise<Channel> {
  validate(input);
  const keys = inputKeys(input);
  const row = {
    id: newId('chn'),
    name: input.name.trim(),
    type: input.type,
    base_url: input.baseUrl.replace(/\/+$/, ''),
    ...keyColumns(secret, keys),
    keys_attention: null,
    api_version: input.type === 'azure' ? (input.apiVersion ?? AZURE_DEFAULT_API_VERSION) : null,
    responses_api: input.responsesApi ? 1 : 0,
    models: JSON.stringify(input.models.map((m) => m.trim())),
    model_map: input.modelMap && Object.keys(input.modelMap).length ? JSON.stringify(input.modelMap) : null,
    priority: input.priority ?? 0,
    weight: input.weight ?? 1,
    connect_timeout_ms: input.connectTimeoutMs ?? 10_000,
    first_byte_timeout_ms: input.firstByteTimeoutMs ?? 60_000,
    total_timeout_ms: input.totalTimeoutMs ?? 600_000,
    status: 'enabled' as const,
    status_reason: null,
    created_at: now,
    updated_at: now,
  };
  try {
    await db.insertInto('channels').values(row).execute();
  } catch (e) {
    if (isUniqueViolation(e)) throw new TallyError('channel_exists', `a channel named "${row.name}" already exists`);
    throw e;
  }
  return rowToChannel(row);
}

export async function listChannels(db: DbOrTx): Promise<Channel[]> {
  return (await db.selectFrom('channels').selectAll().orderBy('priority', 'desc').orderBy('name').execute()).map(rowToChannel);
}

export async function findChannel(db: DbOrTx, idOrName: string): Promise<Channel> {
  const r = await db
    .selectFrom('channels')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
    .executeTakeFirst();
  if (!r) throw new TallyError('channel_not_found', `no channel "${idOrName}"`);
  return rowToChannel(r);
}

export async function channelApiKey(db: DbOrTx, secret: string, id: string): Promise<string | null> {
  const r = await db.selectFrom('channels').select('api_key_enc').where('id', '=', id).executeTakeFirst();
  return r?.api_key_enc ? decryptSecret(secret, r.api_key_enc) : null;
}

/**
 * `auto`: Tally itself took the channel out of rotation (the relay or a probe
 * saw its credentials refused), so probes may enable it again (src/ops/probes.ts);
 * an operator's enable or disable clears that.
 */
export async function setChannelStatus(
  db: DbOrTx,
  input: { id: string; status: ChannelStatus; reason?: string | null; auto?: boolean },
  now = Date.now(),
): Promise<void> {
  await db
    .updateTable('channels')
    .set({ status: input.status, status_reason: input.reason ?? null, updated_at: now, auto_disabled: input.auto ? 1 : 0, probe_ok_streak: 0 })
    .where('id', '=', input.id)
    .execute();
}

/** Turns probe auto-recovery of a channel on or off (src/ops/probes.ts). */
export async function setChannelAutoRecover(db: DbOrTx, id: string, on: boolean, now = Date.now()): Promise<void> {
  await db
    .updateTable('channels')
    .set({ auto_recover: on ? 1 : 0, updated_at: now })
    .where('id', '=', id)
    .execute();
}

/**
 * Takes key `index` of a channel out of rotation (its upstream refused it:
 * 401/403), in one statement-level transaction; returns how many keys of the
 * channel are still in rotation.
 */
export async function setKeyNeedsAttention(db: DbOrTx, input: { id: string; index: number; keyCount: number }, now = Date.now()): Promise<number> {
  const run = async (tx: DbOrTx) => {
    const r = await tx.selectFrom('channels').select('keys_attention').where('id', '=', input.id).executeTakeFirst();
    const out: number[] = r?.keys_attention ? JSON.parse(r.keys_attention) : [];
    if (!out.includes(input.index)) out.push(input.index);
    out.sort((a, b) => a - b);
    await tx
      .updateTable('channels')
      .set({ keys_attention: JSON.stringify(out), updated_at: now })
      .where('id', '=', input.id)
      .execute();
    return input.keyCount - out.length;
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

/** What an operator may change on a channel; absent fields stay as they are. */
export interface ChannelPatch {
  name?: string;
  /** Accepted only when it equals the channel's type: a type cannot change (the keys, URL and model names belong to one provider). */
  type?: ChannelType;
  baseUrl?: string;
  models?: string[];
  /** Replaces the whole map ({} clears it). */
  modelMap?: Record<string, string>;
  priority?: number;
  weight?: number;
  connectTimeoutMs?: number;
  firstByteTimeoutMs?: number;
  totalTimeoutMs?: number;
  /** azure only. */
  apiVersion?: string;
  /** openai only. */
  responsesApi?: boolean;
  /** Replaces every key (and clears keys_attention); not together with addApiKeys / removeApiKeys. */
  apiKeys?: string[];
  /** Appended after the kept keys (a key the channel already has is not added twice). */
  addApiKeys?: string[];
  /** Keys to remove, each by its index in the current list (a number, or 1 to 3 digits) or its last 4 characters ("...aaaa" or "aaaa"). */
  removeApiKeys?: Array<string | number>;
}

/** What an update changed, for the audit trail: field names and, for keys, masked hints only. */
export interface ChannelUpdate {
  channel: Channel;
  changed: string[];
  keys: { count: number; replaced: boolean; added: string[]; removed: string[] } | null;
}

const hintOf = (key: string) => `...${key.slice(-4)}`;

/** The index in `keys` a --remove-api-key value names; 400 when it names none or several. */
function keyIndexFor(keys: string[], ref: string | number): number {
  const s = String(ref).trim();
  if (typeof ref === 'number' || /^\d{1,3}$/.test(s)) {
    const i = Number(s);
    if (!Number.isInteger(i) || i < 0 || i >= keys.length)
      throw new TallyError('invalid_key_hint', `there is no key #${s}: this channel has ${keys.length} key(s), numbered from 0`, { param: 'remove_api_keys' });
    return i;
  }
  const tail = s.replace(/^(\.\.\.|…)/, '');
  if (tail.length !== 4)
    // Never echoed: an operator may have pasted a whole key here.
    throw new TallyError(
      'invalid_key_hint',
      'a key to remove is named by its index from 0 or its last 4 characters (as the channel list shows them, e.g. ...a1B2)',
      {
        param: 'remove_api_keys',
      },
    );
  const found = keys.flatMap((k, i) => (k.endsWith(tail) ? [i] : []));
  if (found.length === 0) throw new TallyError('invalid_key_hint', `no key of this channel ends in ${tail}`, { param: 'remove_api_keys' });
  if (found.length > 1)
    throw new TallyError('invalid_key_hint', `${found.length} keys end in ${tail}: remove by index instead (#${found.join(', #')})`, {
      param: 'remove_api_keys',
    });
  return found[0];
}

/**
 * The key list after a patch and the keys_attention indexes that go with it:
 * a replaced set starts clean; removing a key shifts the indexes after it,
 * so a key out of rotation stays out and a good one stays in.
 */
export function patchKeys(
  keys: string[],
  attention: number[],
  patch: Pick<ChannelPatch, 'apiKeys' | 'addApiKeys' | 'removeApiKeys'>,
): { keys: string[]; attention: number[]; added: string[]; removed: string[] } {
  for (const k of [...(patch.apiKeys ?? []), ...(patch.addApiKeys ?? [])])
    if (typeof k !== 'string' || !k.trim() || k.length > 500)
      throw new TallyError('invalid_request', 'each upstream API key must be 1 to 500 characters', { param: patch.apiKeys ? 'api_keys' : 'add_api_keys' });
  if (patch.apiKeys) {
    if (patch.addApiKeys?.length || patch.removeApiKeys?.length)
      throw new TallyError('invalid_request', 'api_keys replaces every key: send it alone, or use add_api_keys / remove_api_keys', { param: 'api_keys' });
    const next = inputKeys({ apiKeys: patch.apiKeys });
    return { keys: next, attention: [], added: next.filter((k) => !keys.includes(k)).map(hintOf), removed: keys.filter((k) => !next.includes(k)).map(hintOf) };
  }
  const drop = new Set((patch.removeApiKeys ?? []).map((r) => keyIndexFor(keys, r)));
  const kept: string[] = [];
  const keptAttention: number[] = [];
  keys.forEach((k, i) => {
    if (drop.has(i)) return;
    if (attention.includes(i)) keptAttention.push(kept.length);
    kept.push(k);
  });
  const added: string[] = [];
  for (const k of inputKeys({ apiKeys: patch.addApiKeys ?? [] }))
    if (!kept.includes(k)) {
      kept.push(k);
      added.push(hintOf(k));
    }
  return { keys: kept, attention: keptAttention, added, removed: [...drop].sort((a, b) => a - b).map((i) => hintOf(keys[i])) };
}

function storedKeys(secret: string, r: Pick<ChannelsTable, 'api_key_enc' | 'api_keys_enc'>): string[] {
  if (r.api_keys_enc) return JSON.parse(decryptSecret(secret, r.api_keys_enc));
  return r.api_key_enc ? [decryptSecret(secret, r.api_key_enc)] : [];
}

/**
 * Changes a channel in place (rotate a key, add a model, move a base URL)
 * under the same rules as createChannel; bad input changes nothing. Runs in
 * one transaction that locks the row first, so a key the relay takes out of
 * rotation meanwhile (setKeyNeedsAttention) is not lost or misnumbered.
 */
export async function updateChannel(db: DbOrTx, secret: string, idOrName: string, patch: ChannelPatch, now = Date.now()): Promise<ChannelUpdate> {
  const run = async (tx: DbOrTx): Promise<ChannelUpdate> => {
    const cur = await findChannel(tx, idOrName);
    // A no-op write takes the row lock (PostgreSQL) before the keys are read.
    await tx.updateTable('channels').set({ updated_at: now }).where('id', '=', cur.id).execute();
    const row = await tx.selectFrom('channels').selectAll().where('id', '=', cur.id).executeTakeFirstOrThrow();
    const before = rowToChannel(row);
    if (patch.type !== undefined && patch.type !== cur.type)
      throw new TallyError(
        'invalid_channel_type',
        `a channel's type cannot change (this one is ${cur.type}): add a new ${patch.type} channel and disable this one`,
        { param: 'type' },
      );
    const next: ChannelInput = {
      name: patch.name ?? cur.name,
      type: cur.type,
      baseUrl: patch.baseUrl ?? cur.baseUrl,
      apiVersion: cur.type === 'azure' ? (patch.apiVersion ?? cur.apiVersion) : (patch.apiVersion ?? null),
      responsesApi: patch.responsesApi ?? cur.responsesApi,
      models: patch.models ?? cur.models,
      modelMap: patch.modelMap ?? cur.modelMap,
      priority: patch.priority ?? cur.priority,
      weight: patch.weight ?? cur.weight,
      connectTimeoutMs: patch.connectTimeoutMs ?? cur.connectTimeoutMs,
      firstByteTimeoutMs: patch.firstByteTimeoutMs ?? cur.firstByteTimeoutMs,
      totalTimeoutMs: patch.totalTimeoutMs ?? cur.totalTimeoutMs,
    };
    validate(next);
    const touchesKeys = patch.apiKeys !== undefined || !!patch.addApiKeys?.length || !!patch.removeApiKeys?.length;
    const keys = touchesKeys ? patchKeys(storedKeys(secret, row), before.keysAttention, patch) : null;
    const set = {
      name: next.name.trim(),
      base_url: next.baseUrl.replace(/\/+$/, ''),
      api_version: next.apiVersion ?? null,
      responses_api: next.responsesApi ? 1 : 0,
      models: JSON.stringify(next.models.map((m) => m.trim())),
      model_map: next.modelMap && Object.keys(next.modelMap).length ? JSON.stringify(next.modelMap) : null,
      priority: next.priority!,
      weight: next.weight!,
      connect_timeout_ms: next.connectTimeoutMs!,
      first_byte_timeout_ms: next.firstByteTimeoutMs!,
      total_timeout_ms: next.totalTimeoutMs!,
      ...(keys ? { ...keyColumns(secret, keys.keys), keys_attention: keys.attention.length ? JSON.stringify(keys.attention) : null } : {}),
      // The relay stopped the channel because the upstream refused its keys; new keys are the operator's answer to
      // that, so it serves again (a channel an operator disabled stays disabled).
      ...(row.status === 'needs_attention' && keys && keys.keys.length > 0 && (patch.apiKeys !== undefined || keys.added.length > 0)
        ? { status: 'enabled' as const, status_reason: null }
        : {}),
      updated_at: now,
    };
    const after = rowToChannel({ ...row, ...set });
    const changed = (
      [
        'name',
        'baseUrl',
        'apiVersion',
        'responsesApi',
        'models',
        'modelMap',
        'priority',
        'weight',
        'connectTimeoutMs',
        'firstByteTimeoutMs',
        'totalTimeoutMs',
      ] as const
    ).filter((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f]));
    try {
      await tx.updateTable('channels').set(set).where('id', '=', cur.id).execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw new TallyError('channel_exists', `a channel named "${set.name}" already exists`, { param: 'name' });
      throw e;
    }
    return {
      channel: after,
      changed: [...changed, ...(keys ? ['keys'] : []), ...(after.status !== before.status ? ['status'] : [])],
      keys: keys ? { count: keys.keys.length, replaced: patch.apiKeys !== undefined, added: keys.added, removed: keys.removed } : null,
    };
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

/** The audit record of a channel update: the changed fields with their new values and, for keys, the count and masked hints (never a key). */
export function channelUpdateAudit(u: ChannelUpdate): Record<string, unknown> {
  const out: Record<string, unknown> = { changed: u.changed };
  for (const f of u.changed) if (f !== 'keys') out[f] = u.channel[f as keyof Channel];
  if (u.keys) out.keys = u.keys;
  return out;
}
