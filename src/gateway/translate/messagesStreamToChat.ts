// An Anthropic stream translated event by event into OpenAI chat.completion.chunk SSE.
//
//   message_start                         → first chunk: delta {role:'assistant', content:''}
//   content_block_start text / thinking   → nothing (the deltas carry the text)
//   content_block_start tool_use          → delta tool_calls[k] {id, type, function:{name, arguments:''}}
//   content_block_delta text_delta        → delta {content}
//   content_block_delta thinking_delta    → delta {reasoning_content} (DeepSeek/Qwen style)
//   content_block_delta input_json_delta  → delta tool_calls[k] {function:{arguments: partial_json}}
//   signature_delta, citations_delta, content_block_stop, ping, message_stop → nothing
//   message_delta                         → delta {} with finish_reason (stop reason mapped)
//   error                                 → an OpenAI error object as a data line
//   end()                                 → the usage chunk (only when the caller asked) and [DONE]
// k counts tool_use blocks from 0, as OpenAI numbers tool calls. Each chunk is
// written from a prefix built once; only the new text is JSON-encoded.
import { type AnthropicCounts, chatIdOf, emptyCounts, finishReasonOf, openAIUsageOf, readAnthropicUsage, usageOfCounts } from './shared.ts';
import type { Usage } from '../pricing.ts';

export class MessagesStreamToChat {
  private readonly model: string;
  private readonly includeUsage: boolean;
  private readonly created: number;
  private id: string | undefined;
  /** `data: {"id":...,"choices":[{"index":0,"delta":` */
  private head = '';
  /** `,"logprobs":null,"finish_reason":null}]` + (`,"usage":null` when usage was asked) + `}\n\n` */
  private readonly tail: string;
  private readonly counts: AnthropicCounts = emptyCounts();
  /** The OpenAI tool-call index of each Anthropic content block index (-1: not a tool block). */
  private readonly toolIndexOfBlock: number[] = [];
  private tools = 0;
  private finished = false;
  private usageSent = false;

  constructor(o: { model: string; includeUsage: boolean; id?: string; created?: number }) {
    this.model = o.model;
    this.includeUsage = o.includeUsage;
    this.id = o.id;
    this.created = o.created ?? Math.floor(Date.now() / 1000);
    this.tail = `,"logprobs":null,"finish_reason":null}]${o.includeUsage ? ',"usage":null' : ''}}\n\n`;
    if (o.id !== undefined) this.buildHead();
  }

  /** The counts read so far, for billing (the prompt total includes cache reads and writes). */
  get usage(): Usage {
    return usageOfCounts(this.counts);
  }

  push(event: string, data: Record<string, any>): string {
    switch (event) {
      case 'content_block_delta':
        return this.delta(data);
      case 'content_block_start':
        return this.blockStart(data);
      case 'message_start': {
        const msg = data.message;
        readAnthropicUsage(msg?.usage, this.counts);
        if (this.id === undefined) {
          this.id = chatIdOf(msg?.id);
          this.buildHead();
        }
        return `${this.ensureHead()}{"role":"assistant","content":""}${this.tail}`;
      }
      case 'message_delta': {
        readAnthropicUsage(data.usage, this.counts);
        const finish = finishReasonOf(data.delta?.stop_reason);
        if (finish === null) return '';
        this.finished = true;
        return `${this.ensureHead()}{},"logprobs":null,"finish_reason":"${finish}"}]${this.includeUsage ? ',"usage":null' : ''}}\n\n`;
      }
      case 'error': {
        const e = data.error ?? {};
        return `data: ${JSON.stringify({ error: { message: e.message ?? 'upstream stream error', type: e.type ?? 'upstream_error', param: null, code: e.type ?? null } })}\n\n`;
      }
      default:
        return '';
    }
  }

  end(): string {
    let out = '';
    if (!this.finished) out += `${this.ensureHead()}{},"logprobs":null,"finish_reason":"stop"}]${this.includeUsage ? ',"usage":null' : ''}}\n\n`;
    if (this.includeUsage && !this.usageSent) {
      this.usageSent = true;
      out += `data: {"id":${JSON.stringify(this.id)},"object":"chat.completion.chunk","created":${this.created},"model":${JSON.stringify(this.model)},"choices":[],"usage":${JSON.stringify(openAIUsageOf(this.counts))}}\n\n`;
    }
    return `${out}data: [DONE]\n\n`;
  }

  private buildHead(): void {
    this.head = `data: {"id":${JSON.stringify(this.id)},"object":"chat.completion.chunk","created":${this.created},"model":${JSON.stringify(this.model)},"choices":[{"index":0,"delta":`;
  }

  private ensureHead(): string {
    if (this.id === undefined) {
      this.id = chatIdOf(undefined);
      this.buildHead();
    }
    return this.head;
  }

  private blockStart(data: Record<string, any>): string {
    const block = data.content_block;
    if (block?.type !== 'tool_use') {
      this.toolIndexOfBlock[data.index] = -1;
      // A text block may open with text already in it (not seen from Anthropic, allowed by the format).
      if (block?.type === 'text' && block.text) return `${this.ensureHead()}{"content":${JSON.stringify(block.text)}}${this.tail}`;
      return '';
    }
    const k = this.tools++;
    this.toolIndexOfBlock[data.index] = k;
    return `${this.ensureHead()}{"tool_calls":[{"index":${k},"id":${JSON.stringify(block.id)},"type":"function","function":{"name":${JSON.stringify(block.name)},"arguments":""}}]}${this.tail}`;
  }

  private delta(data: Record<string, any>): string {
    const d = data.delta;
    switch (d?.type) {
      case 'text_delta':
        return d.text ? `${this.ensureHead()}{"content":${JSON.stringify(d.text)}}${this.tail}` : '';
      case 'thinking_delta':
        return d.thinking ? `${this.ensureHead()}{"reasoning_content":${JSON.stringify(d.thinking)}}${this.tail}` : '';
      case 'input_json_delta': {
        const k = this.toolIndexOfBlock[data.index];
        if (!d.partial_json || k === undefined || k < 0) return '';
        return `${this.ensureHead()}{"tool_calls":[{"index":${k},"function":{"arguments":${JSON.stringify(d.partial_json)}}}]}${this.tail}`;
      }
      default:
        return '';
    }
  }
}
