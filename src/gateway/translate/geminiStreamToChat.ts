// A Gemini `streamGenerateContent?alt=sse` stream translated chunk by chunk into
// OpenAI chat.completion.chunk SSE. Each Gemini chunk is a whole
// GenerateContentResponse (feed the parsed `data:` of each SseEventParser event).
//
//   first chunk                         → delta {role:'assistant', content:''}
//   part {text, thought:true}           → delta {reasoning_content}
//   part {text}                         → delta {content}
//   part {functionCall}                 → delta tool_calls[k] {id, type, function:{name, arguments: the whole JSON}}
//                                         (Gemini sends a call whole, in one chunk; thoughtSignature → extra_content)
//   candidate.finishReason              → delta {} with finish_reason (tool_calls when the turn called functions)
//   usageMetadata (any chunk; last wins) → kept for billing and the usage chunk
//   promptFeedback.blockReason          → an in-stream error line (code prompt_blocked); check the first
//                                         chunk with geminiBlockError() before committing the headers to answer a 400
//   {error:{code,message,status}}       → an OpenAI in-stream error line
//   end()                               → the finish chunk if none came, the usage chunk (only when asked), [DONE]
// Each chunk is written from a prefix built once; only the new text is JSON-encoded.
import type { Usage } from '../pricing.ts';
import {
  chatIdOfGemini,
  emptyGeminiCounts,
  finishOfGemini,
  type GeminiCounts,
  geminiBlockError,
  openAIUsageOfGemini,
  readGeminiUsage,
  usageOfGemini,
} from './geminiShared.ts';
import { toolCallOf } from './geminiFromChat.ts';

export class GeminiStreamToChat {
  private readonly model: string;
  private readonly includeUsage: boolean;
  private readonly created: number;
  private id: string | undefined;
  private head = '';
  private readonly tail: string;
  private readonly counts: GeminiCounts = emptyGeminiCounts();
  private sawUsage = false;
  private tools = 0;
  private started = false;
  private finished = false;
  /** An error line ended the stream: nothing more is written. */
  private failed = false;
  private ended = false;

  constructor(o: { model: string; includeUsage: boolean; id?: string; created?: number }) {
    this.model = o.model;
    this.includeUsage = o.includeUsage;
    this.id = o.id;
    this.created = o.created ?? Math.floor(Date.now() / 1000);
    this.tail = `,"logprobs":null,"finish_reason":null}]${o.includeUsage ? ',"usage":null' : ''}}\n\n`;
    if (o.id !== undefined) this.buildHead();
  }

  /** The counts read so far, for billing (tool-use prompt tokens as input, thoughts as output). */
  get usage(): Usage {
    return usageOfGemini(this.counts);
  }

  get reportedUsage(): boolean {
    return this.sawUsage;
  }

  push(chunk: Record<string, any>): string {
    if (this.ended || this.failed) return '';
    if (chunk.error != null) {
      this.failed = true;
      const e = chunk.error;
      return `data: ${JSON.stringify({ error: { message: e.message ?? 'upstream stream error', type: 'upstream_error', param: null, code: e.status ?? null } })}\n\n`;
    }
    if (chunk.usageMetadata) {
      readGeminiUsage(chunk.usageMetadata, this.counts);
      this.sawUsage = true;
    }
    const blocked = geminiBlockError(chunk);
    if (blocked) {
      this.failed = true;
      return `data: ${JSON.stringify({ error: { message: blocked.message, type: 'invalid_request_error', param: null, code: 'prompt_blocked' } })}\n\n`;
    }
    if (this.id === undefined) {
      this.id = chatIdOfGemini(chunk.responseId);
      this.buildHead();
    }
    let out = '';
    if (!this.started) {
      this.started = true;
      out = `${this.head}{"role":"assistant","content":""}${this.tail}`;
    }
    const candidate = Array.isArray(chunk.candidates) ? chunk.candidates[0] : undefined;
    if (candidate === undefined) return out;
    const parts = candidate.content?.parts;
    if (Array.isArray(parts)) {
      for (const p of parts) {
        if (p.functionCall) {
          const call = toolCallOf(p);
          call.index = this.tools++;
          out += `${this.head}{"tool_calls":[${JSON.stringify(call)}]}${this.tail}`;
        } else if (typeof p.text === 'string' && p.text.length > 0) {
          out += `${this.head}{"${p.thought === true ? 'reasoning_content' : 'content'}":${JSON.stringify(p.text)}}${this.tail}`;
        }
      }
    }
    if (candidate.finishReason != null) {
      this.finished = true;
      out += this.finishChunk(finishOfGemini(candidate.finishReason, this.tools > 0));
    }
    return out;
  }

  /** The closing chunks; '' after an error line (the stream ended with it) or a second call. */
  end(): string {
    if (this.ended || this.failed) return '';
    this.ended = true;
    let out = '';
    if (this.id === undefined) {
      this.id = chatIdOfGemini(undefined);
      this.buildHead();
    }
    if (!this.finished) out += this.finishChunk(this.tools > 0 ? 'tool_calls' : 'stop');
    if (this.includeUsage)
      out += `data: {"id":${JSON.stringify(this.id)},"object":"chat.completion.chunk","created":${this.created},"model":${JSON.stringify(this.model)},"choices":[],"usage":${JSON.stringify(openAIUsageOfGemini(this.counts))}}\n\n`;
    return `${out}data: [DONE]\n\n`;
  }

  private finishChunk(finish: string): string {
    return `${this.head}{},"logprobs":null,"finish_reason":"${finish}"}]${this.includeUsage ? ',"usage":null' : ''}}\n\n`;
  }

  private buildHead(): void {
    this.head = `data: {"id":${JSON.stringify(this.id)},"object":"chat.completion.chunk","created":${this.created},"model":${JSON.stringify(this.model)},"choices":[{"index":0,"delta":`;
  }
}
