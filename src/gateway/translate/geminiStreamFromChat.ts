// An OpenAI chat.completion.chunk stream translated chunk by chunk into Gemini's
// `streamGenerateContent?alt=sse` stream: `data: <GenerateContentResponse>\r\n\r\n`.
//
//   delta.reasoning_content / reasoning → a chunk with part {text, thought:true}
//   delta.content (or refusal)          → a chunk with part {text}
//   delta.tool_calls[k]                 → kept: Gemini sends a function call whole, so the
//                                         arguments are joined and sent at the end as functionCall parts
//   finish_reason, usage                → kept for end()
//   end()                               → the last chunk: the function calls (or an empty text part),
//                                         finishReason and usageMetadata (reasoning as thoughtsTokenCount)
//   a chunk holding `error`             → `data: {"error":{code:500,message,status:"INTERNAL"}}` (the SDK
//                                         throws it as an ApiError) and the translator ends
// Every chunk carries modelVersion and responseId, as Gemini's do. Each text
// chunk is written from a prefix built once; only the new text is JSON-encoded.
import type { Usage } from '../pricing.ts';
import { type ChatCounts, emptyChatCounts, geminiFinishOf, geminiUsageOfChat, readChatUsage, responseIdOfChat, usageOfChat } from './geminiShared.ts';
import { functionCallPart } from './geminiToChat.ts';

interface PendingCall {
  id: string | undefined;
  name: string;
  args: string[];
}

export class ChatStreamToGemini {
  private readonly model: string;
  private readonly inputTokensHint: number;
  private responseId: string | undefined;
  /** `data: {"candidates":[{"content":{"parts":[` */
  private readonly head = 'data: {"candidates":[{"content":{"parts":[';
  /** `]},"role":"model","index":0}],"modelVersion":..,"responseId":..}\r\n\r\n` (built at the first chunk) */
  private tail = '';
  private readonly calls: PendingCall[] = [];
  private readonly idOfTool: Array<string | undefined> = [];
  private readonly slotOfTool: number[] = [];
  private finishReason: unknown = null;
  private readonly counts: ChatCounts = emptyChatCounts();
  private sawUsage = false;
  private ended = false;

  constructor(o: { model: string; responseId?: string; inputTokensHint?: number }) {
    this.model = o.model;
    this.responseId = o.responseId;
    this.inputTokensHint = o.inputTokensHint ?? 0;
    if (o.responseId !== undefined) this.buildTail();
  }

  get usage(): Usage {
    return usageOfChat(this.counts);
  }

  get reportedUsage(): boolean {
    return this.sawUsage;
  }

  push(chunk: Record<string, any>): string {
    if (this.ended) return '';
    if (chunk.error != null) return this.error(String(chunk.error.message ?? 'the upstream stream failed'));
    if (this.responseId === undefined) {
      this.responseId = responseIdOfChat(chunk.id);
      this.buildTail();
    }
    if (chunk.usage) {
      readChatUsage(chunk.usage, this.counts);
      this.sawUsage = true;
    }
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (choice === undefined) return '';
    let out = '';
    const d = choice.delta;
    if (d) {
      const reasoning = d.reasoning_content ?? d.reasoning;
      if (typeof reasoning === 'string' && reasoning.length > 0) out += `${this.head}{"text":${JSON.stringify(reasoning)},"thought":true}${this.tail}`;
      const text = typeof d.content === 'string' && d.content.length > 0 ? d.content : typeof d.refusal === 'string' && d.refusal.length > 0 ? d.refusal : null;
      if (text !== null) out += `${this.head}{"text":${JSON.stringify(text)}}${this.tail}`;
      if (Array.isArray(d.tool_calls)) for (const tc of d.tool_calls) this.toolDelta(tc);
    }
    if (choice.finish_reason != null) this.finishReason = choice.finish_reason;
    return out;
  }

  end(): string {
    if (this.ended) return '';
    if (this.responseId === undefined) {
      this.responseId = responseIdOfChat(undefined);
      this.buildTail();
    }
    let parts: Array<Record<string, any>> = [{ text: '' }];
    try {
      if (this.calls.length > 0) parts = this.calls.map((c) => functionCallPart({ id: c.id, function: { name: c.name, arguments: c.args.join('') } }));
    } catch (e) {
      return this.error((e as Error).message, 502, 'UNAVAILABLE');
    }
    this.ended = true;
    const usage = geminiUsageOfChat(this.counts);
    if (!this.sawUsage) {
      usage.promptTokenCount = this.inputTokensHint;
      usage.totalTokenCount = this.inputTokensHint;
    }
    const last = {
      candidates: [{ content: { parts, role: 'model' }, finishReason: geminiFinishOf(this.finishReason), index: 0 }],
      usageMetadata: usage,
      modelVersion: this.model,
      responseId: this.responseId,
    };
    return `data: ${JSON.stringify(last)}\r\n\r\n`;
  }

  /** A Google error chunk (the SDK throws it as an ApiError); the translator ends. */
  error(message: string, code = 500, status = 'INTERNAL'): string {
    this.ended = true;
    return `data: ${JSON.stringify({ error: { code, message, status } })}\r\n\r\n`;
  }

  private buildTail(): void {
    this.tail = `],"role":"model"},"index":0}],"modelVersion":${JSON.stringify(this.model)},"responseId":${JSON.stringify(this.responseId)}}\r\n\r\n`;
  }

  private toolDelta(tc: Record<string, any>): void {
    const k: number = typeof tc.index === 'number' ? tc.index : 0;
    let slot = this.slotOfTool[k];
    // Some upstreams number every call 0 and tell them apart by id only.
    if (slot === undefined || (typeof tc.id === 'string' && tc.id.length > 0 && this.idOfTool[k] !== undefined && tc.id !== this.idOfTool[k])) {
      slot = this.calls.length;
      this.calls.push({ id: tc.id, name: tc.function?.name ?? '', args: [] });
      this.slotOfTool[k] = slot;
      this.idOfTool[k] = tc.id;
    }
    const args = tc.function?.arguments;
    if (typeof args === 'string' && args.length > 0) this.calls[slot].args.push(args);
  }
}
