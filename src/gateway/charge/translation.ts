import { TallyError } from '../../lib/errors.ts';
import type { GatewayCall } from '../call.ts';
import type { Provider } from '../providers/index.ts';

// When the caller's protocol and the channel's wire format differ (an OpenAI
// chat caller on an anthropic channel, Claude Code on an OpenAI-compatible
// one), the attempt step (attempt.ts) sends a translated call and turns the
// answer back into the caller's format: a whole body at once, a stream event
// by event. The conversions themselves are pure functions (src/gateway/translate/).
// The usage billed is always read from the upstream's own answer by the
// provider's reader, never from the translated output. When protocol and
// provider match there is no Translation at all (null), and nothing here runs.

/** Turns an upstream stream into the caller's protocol, chunk by chunk. */
export interface StreamTranslator {
  /** Upstream bytes in; what to send the client now (may be empty). */
  push(chunk: Buffer): string;
  /** The upstream stream ended normally: whatever closes the caller's stream. */
  end(): string;
}

export interface Translation {
  /** The call as the provider's wire format writes it (its body, its endpoint). */
  call: GatewayCall;
  /** A whole upstream answer, rewritten in the caller's format. */
  whole(body: Buffer): Buffer;
  stream(): StreamTranslator;
}

type Translator = (call: GatewayCall) => Translation;

/** The pairs Tally can translate, keyed `<caller protocol>/<endpoint> > <provider wire>`. */
const TRANSLATORS: Record<string, Translator> = {};

/**
 * null when the provider speaks the caller's protocol (no translation);
 * a Translation when the pair can be translated; undefined when it cannot.
 * A request field that cannot be translated is a 400 naming it (thrown).
 */
export function translationFor(call: GatewayCall, provider: Provider): Translation | null | undefined {
  if (call.protocol.name === provider.wire) return null;
  const t = TRANSLATORS[`${call.protocol.name}/${call.endpoint}>${provider.wire}`];
  return t ? t(call) : undefined;
}

/** The 400 for a model whose every channel speaks a format this caller's request cannot be translated to. */
export function untranslatable(call: GatewayCall, provider: Provider): TallyError {
  return new TallyError(
    'invalid_request',
    `"${call.model}" is served here only by ${provider.wire} channels, and this version cannot translate a ${call.protocol.name} ${call.endpoint} request into ${provider.wire}'s format; call it with the ${provider.wire} protocol`,
    { param: 'model' },
  );
}
