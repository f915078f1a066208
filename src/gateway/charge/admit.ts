import { TallyError } from '../../lib/errors.ts';
import type { KeyPrincipal } from '../../accounts/keyCache.ts';
import type { Inbound } from '../call.ts';
import type { Catalog } from '../catalog.ts';
import type { Group } from '../groups.ts';
import { didYouMean } from '../suggest.ts';
import type { RelayDeps, RequestCharge } from './requestCharge.ts';
import type { ResponseHeaders } from '../limits.ts';

// Step 1: may this caller make this call? The key (and its requests per
// minute), then the call itself (read by its protocol), then the model: it
// exists, the key and the group may use it, it has a price and a channel.
// Nothing is held yet, so a refusal here costs nothing.

/** The one rule for which models a key may use (the relay and GET /v1/models). */
export function mayUseModel(key: { models: string[] | null }, group: Group, model: string): boolean {
  return (!key.models || key.models.includes(model)) && (!group.models || group.models.includes(model));
}

/** The models a key can be served: priced, routed, and allowed to it (GET /v1/models). */
export function modelsFor(catalog: Catalog, p: { key: { models: string[] | null }; user: { group: string } }): string[] {
  const group = catalog.group(p.user.group);
  return catalog.servedModels().filter((m) => mayUseModel(p.key, group, m));
}

function notAllowed(keyModels: string[] | null, group: Group, model: string): TallyError {
  if (keyModels && !keyModels.includes(model)) {
    return new TallyError('model_not_allowed', `this API key may not use "${model}"; it is limited to: ${keyModels.join(', ')}`, { param: 'model' });
  }
  return new TallyError('model_not_allowed', `the "${group.name}" group may not use "${model}"`, { param: 'model' });
}

/** The caller's key (401 unless valid), as its protocol sends it. */
export function authenticateKey(d: RelayDeps, inb: Inbound): Promise<KeyPrincipal> {
  return d.keys.authenticate(inb.protocol.apiKey(inb.req.headers, inb.req.url), inb.ip);
}

/**
 * The key's rate limits for one request that ends at once (count_tokens, a
 * video submit): requests per minute and in flight (429 past them), the slot
 * given back straight away.
 */
export async function checkKeyRpm(d: RelayDeps, principal: KeyPrincipal, requestId: string, res: ResponseHeaders): Promise<void> {
  const ticket = await d.limits.admit(principal, d.catalog.group(principal.user.group), requestId, res);
  d.limits.finish(ticket, 0);
}

/** The model exists (priced or routed) and this key and its group may use it; returns the group. */
export function checkModel(cat: Catalog, principal: KeyPrincipal, model: string): Group {
  if (!cat.prices.has(model) && cat.channelsFor(model).length === 0) {
    const hint = didYouMean(model, cat.servedModels());
    throw new TallyError(
      'model_not_found',
      `the model "${model}" does not exist${hint ? ` (did you mean "${hint}"?)` : ''}; GET /v1/models lists the models this key can use`,
      { param: 'model' },
    );
  }
  const group = cat.group(principal.user.group);
  if (!mayUseModel(principal.key, group, model)) throw notAllowed(principal.key.models, group, model);
  return group;
}

export async function admit(d: RelayDeps, c: RequestCharge): Promise<void> {
  const inb = c.inbound;
  const log = c.log;
  const principal = await authenticateKey(d, inb);
  c.principal = principal;
  log.user_id = principal.user.id;
  log.key_id = principal.key.id;
  log.key_display = principal.key.display;
  log.group_name = principal.user.group;
  // Requests per minute and in flight (limits.ts): before the body is read; tokens per minute once its bound is known (quote.ts).
  c.limitTicket = await d.limits.admit(principal, d.catalog.group(principal.user.group), inb.requestId, inb.res);
  const call = inb.protocol.parse(inb);
  c.call = call;
  const model = call.model;
  log.model = model;
  log.stream = call.stream ? 1 : 0;
  const cat = d.catalog;
  const group = checkModel(cat, principal, model);
  const price = cat.prices.get(model);
  if (!price) {
    throw new TallyError(
      'model_not_priced',
      `"${model}" has no price yet, so it cannot be served; the operator must set one (tally model set-price --model ${model} ...)`,
    );
  }
  if (cat.channelsFor(model).length === 0) throw new TallyError('no_channel_available', `no upstream channel serves "${model}" right now`);
  c.price = price;
  c.group = group;
}
