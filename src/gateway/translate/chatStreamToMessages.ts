// An OpenAI chat.completion.chunk stream translated chunk by chunk into Anthropic SSE events.
//
//   first chunk                     → message_start (usage: inputTokensHint, the real counts come at the end)
//   delta.reasoning_content         → thinking block: content_block_start {thinking:'', signature:''} + thinking_delta
//     (or delta.reasoning)
//   delta.content                   → text block: content_block_start {text:''} + text_delta
//   delta.tool_calls[i] with an id  → tool_use block: content_block_start {id, name, input:{}}
//   ….function.arguments            → input_json_delta {partial_json}
//   finish_reason, usage            → kept for end()
//   end()                           → content_block_stop of the open block, message_delta {stop_reason, usage}, message_stop
// A new kind of block closes the open one (content_block_stop), so blocks are
// numbered 0, 1, 2… in order and each is stopped. Arguments for a tool call
// whose block is already closed (an upstream interleaving parallel calls) are
// still sent with that block's index: the SDKs accumulate by index.
import { type OpenAICounts, anthropicUsageOf, messageIdOf, readOpenAIUsage, stopReasonOf } from './shared.ts';
import type { Usage } from '../pricing.ts';

const NONE = 0;
const TEXT = 1;
const THINKING = 2;
const TOOL = 3;

export class ChatStreamToMessages {
  private readonly model: string;
  private id: string | undefined;
  private readonly inputTokensHint: number;
  private started = false;
  private open = NONE;
  /** Index of the open block (or of the last one). */
  private index = -1;
  /** Anthropic block index of each OpenAI tool-call index. */
  private readonly blockOfTool: number[] = [];
  /** The id each OpenAI tool-call index was opened with. */
  private readonly idOfTool: Array<string | undefined> = [];
  private finishReason: unknown = null;
  private readonly counts: OpenAICounts = { prompt: 0, cached: 0, completion: 0 };
  private sawUsage = false;
  private ended = false;

  constructor(o: { model: string; id?: string; inputTokensHint?: number }) {
    this.model = o.model;
    this.id = o.id;
    this.inputTokensHint = o.inputTokensHint ?? 0;
  }

  /** The counts the upstream reported (zeros until its usage chunk), for billing. */
  get usage(): Usage {
    return { promptTokens: this.counts.prompt, completionTokens: this.counts.completion, cachedTokens: Math.min(this.counts.cached, this.counts.prompt) };
  }

  get reportedUsage(): boolean {
    return this.sawUsage;
  }

  push(chunk: Record<string, any>): string {
    // Some OpenAI-compatible upstreams report a failure mid-stream as a data line holding `error`.
    if (chunk.error != null) return this.error('api_error', String(chunk.error.message ?? 'the upstream stream failed'));
    let out = this.started ? '' : this.start(chunk.id);
    if (chunk.usage) {
      readOpenAIUsage(chunk.usage, this.counts);
      this.sawUsage = true;
    }
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (choice === undefined) return out;
    const d = choice.delta;
    if (d) {
      const reasoning = d.reasoning_content ?? d.reasoning;
      if (typeof reasoning === 'string' && reasoning.length > 0) {
        if (this.open !== THINKING) out += this.openBlock(THINKING, '{"type":"thinking","thinking":"","signature":""}');
        out += `event: content_block_delta\ndata: {"type":"content_block_delta","index":${this.index},"delta":{"type":"thinking_delta","thinking":${JSON.stringify(reasoning)}}}\n\n`;
      }
      if (typeof d.content === 'string' && d.content.length > 0) {
        if (this.open !== TEXT) out += this.openBlock(TEXT, '{"type":"text","text":""}');
        out += `event: content_block_delta\ndata: {"type":"content_block_delta","index":${this.index},"delta":{"type":"text_delta","text":${JSON.stringify(d.content)}}}\n\n`;
      }
      if (Array.isArray(d.tool_calls)) for (const tc of d.tool_calls) out += this.toolDelta(tc);
    }
    if (choice.finish_reason != null) this.finishReason = choice.finish_reason;
    return out;
  }

  end(): string {
    if (this.ended) return '';
    this.ended = true;
    let out = this.started ? '' : this.start(undefined);
    out += this.closeBlock();
    const usage = anthropicUsageOf(this.counts);
    if (!this.sawUsage) usage.input_tokens = this.inputTokensHint;
    out += `event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"${stopReasonOf(this.finishReason)}","stop_sequence":null},"usage":${JSON.stringify(usage)}}\n\n`;
    return `${out}event: message_stop\ndata: {"type":"message_stop"}\n\n`;
  }

  error(type: string, message: string): string {
    this.ended = true;
    return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type, message } })}\n\n`;
  }

  private start(upstreamId: unknown): string {
    this.started = true;
    this.id ??= messageIdOf(upstreamId);
    const message = {
      id: this.id,
      type: 'message',
      role: 'assistant',
      model: this.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: this.inputTokensHint, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 },
    };
    return `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message })}\n\n`;
  }

  private closeBlock(): string {
    if (this.open === NONE) return '';
    this.open = NONE;
    return `event: content_block_stop\ndata: {"type":"content_block_stop","index":${this.index}}\n\n`;
  }

  private openBlock(kind: number, block: string): string {
    const out = this.closeBlock();
    this.open = kind;
    this.index++;
    return `${out}event: content_block_start\ndata: {"type":"content_block_start","index":${this.index},"content_block":${block}}\n\n`;
  }

  private toolDelta(tc: Record<string, any>): string {
    const k: number = typeof tc.index === 'number' ? tc.index : 0;
    let out = '';
    let block = this.blockOfTool[k];
    // Some upstreams number every call 0 and tell them apart by id only; others repeat the id on each delta.
    if (block === undefined || (typeof tc.id === 'string' && tc.id.length > 0 && this.idOfTool[k] !== undefined && tc.id !== this.idOfTool[k])) {
      const f = tc.function ?? {};
      out = this.openBlock(
        TOOL,
        `{"type":"tool_use","id":${JSON.stringify(tc.id ?? `toolu_${this.index + 1}`)},"name":${JSON.stringify(f.name ?? '')},"input":{}}`,
      );
      block = this.index;
      this.blockOfTool[k] = block;
      this.idOfTool[k] = tc.id;
    }
    const args = tc.function?.arguments;
    if (typeof args === 'string' && args.length > 0)
      out += `event: content_block_delta\ndata: {"type":"content_block_delta","index":${block},"delta":{"type":"input_json_delta","partial_json":${JSON.stringify(args)}}}\n\n`;
    return out;
  }
}
