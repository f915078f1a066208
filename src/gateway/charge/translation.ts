import { TallyError } from '../../lib/errors.ts';
import type { GatewayCall } from '../call.ts';
import type { Provider } from '../providers/index.ts';
import {
  ChatStreamToMessages,
  chatToMessagesRequest,
  chatToMessagesResponse,
  MessagesStreamToChat,
  messagesToChatRequest,
  messagesToChatResponse,
  SseEventParser,
} from '../translate/index.ts';

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
  /** The upstream reported an error inside the stream (already translated into the caller's error event). */
  failed: boolean;
}

export interface Translation {
  /** The call as the provider's wire format writes it (its body, its endpoint). */
  call: GatewayCall;
  /** A whole upstream answer, rewritten in the caller's format. */
  whole(body: Buffer): Buffer;
  stream(): StreamTranslator;
}

/** What a translation needs from the request's quote (quote.ts). */
export interface TranslationContext {
  /** The output cap to send when the caller set none (Anthropic requires max_tokens): the model's max output. */
  defaultMaxTokens: number;
  /** Tally's count of the prompt, reported as input_tokens when an OpenAI-compatible upstream sends no usage. */
  inputTokensHint: number;
}

type Translator = (call: GatewayCall, x: TranslationContext) => Translation;

/** The call as the provider's wire format writes it; the provider renames the model and applies the output cap itself. */
function translatedCall(call: GatewayCall, endpoint: GatewayCall['endpoint'], body: Record<string, any>): GatewayCall {
  // clientWantsUsage: the translator reads the upstream's usage report, so it is never cut out of the stream.
  return { ...call, endpoint, body, raw: JSON.stringify(body), clientWantsUsage: true, forwardHeaders: null };
}

/** Feeds upstream SSE bytes to an event translator. */
class AnthropicEventsToChat implements StreamTranslator {
  failed = false;
  private readonly parser = new SseEventParser();
  constructor(private readonly x: MessagesStreamToChat) {}
  push(chunk: Buffer): string {
    let out = '';
    for (const ev of this.parser.push(chunk)) {
      const data = parseJson(ev.data);
      if (!data) continue;
      const name = ev.event ?? data.type ?? 'message';
      if (name === 'error') this.failed = true;
      out += this.x.push(name, data);
    }
    return out;
  }
  end(): string {
    return this.x.end();
  }
}

class ChatChunksToMessages implements StreamTranslator {
  failed = false;
  private readonly parser = new SseEventParser();
  constructor(private readonly x: ChatStreamToMessages) {}
  push(chunk: Buffer): string {
    let out = '';
    for (const ev of this.parser.push(chunk)) {
      if (ev.data === '[DONE]') continue; // end() closes the Anthropic stream
      const data = parseJson(ev.data);
      if (!data) continue;
      if (data.error != null) this.failed = true; // an OpenAI-compatible upstream's in-stream error chunk
      out += this.x.push(data);
    }
    return out;
  }
  end(): string {
    return this.x.end();
  }
}

function parseJson(text: string): Record<string, any> | null {
  try {
    const j = JSON.parse(text);
    return j && typeof j === 'object' && !Array.isArray(j) ? j : null;
  } catch {
    return null;
  }
}

function parseAnswer(body: Buffer): Record<string, any> {
  const j = parseJson(body.toString('utf8'));
  if (!j) throw new TallyError('upstream_error', 'the upstream answer is not a JSON object');
  return j;
}

/** The pairs Tally can translate, keyed `<caller protocol>/<endpoint>><provider wire>`. */
const TRANSLATORS: Record<string, Translator> = {
  // An OpenAI chat caller on an anthropic channel.
  'openai/chat.completions>anthropic': (call, x) => {
    const body = chatToMessagesRequest(call.body, { upstreamModel: call.model, defaultMaxTokens: x.defaultMaxTokens });
    const includeUsage = call.clientWantsUsage;
    return {
      call: translatedCall(call, 'messages', body),
      whole: (b) => Buffer.from(JSON.stringify(messagesToChatResponse(parseAnswer(b), { model: call.model }))),
      stream: () => new AnthropicEventsToChat(new MessagesStreamToChat({ model: call.model, includeUsage })),
    };
  },
  // An Anthropic caller (Claude Code) on an OpenAI-compatible channel.
  'anthropic/messages>openai': (call, x) => {
    const body = messagesToChatRequest(call.body, { upstreamModel: call.model });
    return {
      call: translatedCall(call, 'chat.completions', body),
      whole: (b) => Buffer.from(JSON.stringify(chatToMessagesResponse(parseAnswer(b), { model: call.model }))),
      stream: () => new ChatChunksToMessages(new ChatStreamToMessages({ model: call.model, inputTokensHint: x.inputTokensHint })),
    };
  },
};

/**
 * null when the provider speaks the caller's protocol (no translation);
 * a Translation when the pair can be translated; undefined when it cannot.
 * A request field that cannot be translated is a 400 naming it (thrown).
 */
export function translationFor(call: GatewayCall, provider: Provider, x: TranslationContext): Translation | null | undefined {
  if (call.protocol.name === provider.wire) return null;
  const t = TRANSLATORS[`${call.protocol.name}/${call.endpoint}>${provider.wire}`];
  return t ? t(call, x) : undefined;
}

/** The 400 for a model whose every channel speaks a format this caller's request cannot be translated to. */
export function untranslatable(call: GatewayCall, provider: Provider): TallyError {
  return new TallyError(
    'invalid_request',
    `"${call.model}" is served here only by ${provider.wire} channels, and this version cannot translate a ${call.protocol.name} ${call.endpoint} request into ${provider.wire}'s format; call it with the ${provider.wire} protocol`,
    { param: 'model' },
  );
}
