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

  /**
   * The same translation as chat.completion.chunk OBJECTS, for a pivot (Gemini upstream → chat → Responses or Anthropic
   * inbound: feed them to ChatStreamToResponses.push / ChatStreamToMessages.push, with no SSE text in between).
   * A blocked prompt or an upstream error chunk comes out as one `{error:{message,type,code}}` object (those translators
   * turn it into their own failure event). Do not mix with push() on one instance.
   */
  pushObjects(chunk: Record<string, any>): Array<Record<string, any>> {
    if (this.ended || this.failed) return [];
    if (chunk.error != null) {
      this.failed = true;
      return [{ error: { message: chunk.error.message ?? 'upstream stream error', type: 'upstream_error', code: chunk.error.status ?? null } }];
    }
    if (chunk.usageMetadata) {
      readGeminiUsage(chunk.usageMetadata, this.counts);
      this.sawUsage = true;
    }
    const blocked = geminiBlockError(chunk);
    if (blocked) {
      this.failed = true;
      return [{ error: { message: blocked.message, type: 'invalid_request_error', code: 'prompt_blocked' } }];
    }
    this.id ??= chatIdOfGemini(chunk.responseId);
    const out: Array<Record<string, any>> = [];
    if (!this.started) {
      this.started = true;
      out.push(this.chunkObject({ role: 'assistant', content: '' }, null));
    }
    const candidate = Array.isArray(chunk.candidates) ? chunk.candidates[0] : undefined;
    if (candidate === undefined) return out;
    const parts = candidate.content?.parts;
    if (Array.isArray(parts)) {
      for (const p of parts) {
        if (p.functionCall) {
          const call = toolCallOf(p);
          call.index = this.tools++;
          out.push(this.chunkObject({ tool_calls: [call] }, null));
        } else if (typeof p.text === 'string' && p.text.length > 0) {
          out.push(this.chunkObject(p.thought === true ? { reasoning_content: p.text } : { content: p.text }, null));
        }
      }
    }
    if (candidate.finishReason != null) {
      this.finished = true;
      out.push(this.chunkObject({}, finishOfGemini(candidate.finishReason, this.tools > 0)));
    }
    return out;
  }

  /** end() as objects: the finish chunk if none came, then the usage chunk (always: the next translator reads it). */
  endObjects(): Array<Record<string, any>> {
    if (this.ended || this.failed) return [];
    this.ended = true;
    this.id ??= chatIdOfGemini(undefined);
    const out: Array<Record<string, any>> = [];
    if (!this.finished) out.push(this.chunkObject({}, this.tools > 0 ? 'tool_calls' : 'stop'));
    const usage = {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [],
      usage: openAIUsageOfGemini(this.counts),
    };
    if (this.sawUsage) out.push(usage);
    return out;
  }

  private chunkObject(delta: Record<string, any>, finish: string | null): Record<string, any> {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    };
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
