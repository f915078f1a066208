// An OpenAI chat.completion.chunk stream translated chunk by chunk into the
// Responses API event stream (`event: <type>\ndata: {...,"sequence_number":n}\n\n`).
//
//   first chunk                    → response.created, response.in_progress (status in_progress, no output)
//   delta.reasoning_content        → reasoning item: output_item.added {type:'reasoning', summary:[]},
//     (or delta.reasoning)             content_part.added {reasoning_text}, response.reasoning_text.delta
//   delta.content                  → message item: output_item.added, content_part.added {output_text},
//     (and delta.refusal as text)      response.output_text.delta
//   delta.tool_calls[k] new id     → function_call item: output_item.added {call_id, name, arguments:''}
//   ….function.arguments           → response.function_call_arguments.delta
//   finish_reason, usage           → kept for end()
//   end()                          → the open items' *.done events and output_item.done, then
//                                    response.completed (response.incomplete for length / content_filter)
//                                    with the whole output and usage
//   a chunk holding `error`        → response.failed (and the translator ends)
// A new kind of item closes the open one, except that function calls stay open
// together until something else starts or the stream ends, so arguments an
// upstream interleaves between parallel calls still reach their item.
// Custom (freeform) tools of the request come back as custom_tool_call items,
// sent whole when the call closes (their input is the `input` of the JSON).
// Linear: each delta is JSON-encoded once; item texts are kept as pieces and
// joined once, when the item closes.
import type { Usage } from '../pricing.ts';
import { type ChatCounts, emptyChatCounts, readChatUsage, usageOfChat } from './geminiShared.ts';
import { callItemOf, customToolNames, responseEnvelope, responseIdOf, responsesUsageOf, statusOfFinish } from './responsesToChat.ts';

interface OpenCall {
  index: number;
  callId: string;
  name: string;
  args: string[];
  custom: boolean;
}

export class ChatStreamToResponses {
  private readonly model: string;
  private readonly request: Record<string, any>;
  private readonly createdAt: number;
  private readonly inputTokensHint: number;
  private readonly custom: Set<string>;
  private id: string | undefined;
  private seq = 0;
  private started = false;
  private ended = false;
  /** The finished output items, in order. */
  private readonly output: Array<Record<string, any>> = [];
  /** The open reasoning or message item: its output index, id and text pieces. */
  private openKind: 'reasoning' | 'message' | null = null;
  private openIndex = -1;
  private openId = '';
  private openText: string[] = [];
  /** Open function calls by chat tool-call index. */
  private calls = new Map<number, OpenCall>();
  private readonly idOfTool: Array<string | undefined> = [];
  private finishReason: unknown = null;
  private readonly counts: ChatCounts = emptyChatCounts();
  private sawUsage = false;
  private items = 0;

  constructor(o: { model: string; request: Record<string, any>; id?: string; createdAt?: number; inputTokensHint?: number }) {
    this.model = o.model;
    this.request = o.request;
    this.id = o.id;
    this.createdAt = o.createdAt ?? Math.floor(Date.now() / 1000);
    this.inputTokensHint = o.inputTokensHint ?? 0;
    this.custom = customToolNames(o.request);
  }

  /** The counts the upstream reported (zeros until its usage chunk), for billing. */
  get usage(): Usage {
    return usageOfChat(this.counts);
  }

  get reportedUsage(): boolean {
    return this.sawUsage;
  }

  push(chunk: Record<string, any>): string {
    if (this.ended) return '';
    if (chunk.error != null) return this.fail(String(chunk.error.message ?? 'the upstream stream failed'));
    let out = this.started ? '' : this.start(chunk.id);
    if (chunk.usage) {
      readChatUsage(chunk.usage, this.counts);
      this.sawUsage = true;
    }
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (choice === undefined) return out;
    const d = choice.delta;
    if (d) {
      const reasoning = d.reasoning_content ?? d.reasoning;
      if (typeof reasoning === 'string' && reasoning.length > 0) out += this.textDelta('reasoning', reasoning);
      if (typeof d.content === 'string' && d.content.length > 0) out += this.textDelta('message', d.content);
      if (typeof d.refusal === 'string' && d.refusal.length > 0) out += this.textDelta('message', d.refusal);
      if (Array.isArray(d.tool_calls)) for (const tc of d.tool_calls) out += this.toolDelta(tc);
    }
    if (choice.finish_reason != null) this.finishReason = choice.finish_reason;
    return out;
  }

  end(): string {
    if (this.ended) return '';
    let out = this.started ? '' : this.start(undefined);
    out += this.closeText() + this.closeCalls();
    this.ended = true;
    const r = this.envelope();
    const s = statusOfFinish(this.finishReason);
    r.status = s.status;
    r.incomplete_details = s.incomplete;
    r.output = this.output;
    const usage = responsesUsageOf(this.counts);
    if (!this.sawUsage) {
      usage.input_tokens = this.inputTokensHint;
      usage.total_tokens = this.inputTokensHint;
    }
    r.usage = usage;
    return out + this.event(s.status === 'completed' ? 'response.completed' : 'response.incomplete', `"response":${JSON.stringify(r)}`);
  }

  /** A response.failed event (the relay's own failure, or an upstream in-stream error); the translator ends. */
  fail(message: string, code = 'server_error'): string {
    let out = this.started ? '' : this.start(undefined);
    this.ended = true;
    const r = this.envelope();
    r.status = 'failed';
    r.error = { code, message };
    r.output = this.output;
    out += this.event('response.failed', `"response":${JSON.stringify(r)}`);
    return out;
  }

  private envelope(): Record<string, any> {
    return responseEnvelope(this.request, { id: this.id as string, model: this.model, createdAt: this.createdAt });
  }

  private event(type: string, fields: string): string {
    return `event: ${type}\ndata: {"type":"${type}",${fields},"sequence_number":${this.seq++}}\n\n`;
  }

  private start(upstreamId: unknown): string {
    this.started = true;
    this.id ??= responseIdOf(upstreamId);
    const r = JSON.stringify(this.envelope());
    return this.event('response.created', `"response":${r}`) + this.event('response.in_progress', `"response":${r}`);
  }

  private textDelta(kind: 'reasoning' | 'message', text: string): string {
    let out = '';
    if (this.openKind !== kind) {
      out = this.closeText() + this.closeCalls();
      out += this.openTextItem(kind);
    }
    this.openText.push(text);
    const type = kind === 'reasoning' ? 'response.reasoning_text.delta' : 'response.output_text.delta';
    const logprobs = kind === 'message' ? ',"logprobs":[]' : '';
    return `${out}${this.event(type, `"item_id":"${this.openId}","output_index":${this.openIndex},"content_index":0,"delta":${JSON.stringify(text)}${logprobs}`)}`;
  }

  private openTextItem(kind: 'reasoning' | 'message'): string {
    this.openKind = kind;
    this.openIndex = this.items++;
    const base = (this.id as string).slice(5);
    this.openId = `${kind === 'reasoning' ? 'rs' : 'msg'}_${base}_${this.openIndex}`;
    this.openText = [];
    const at = `"output_index":${this.openIndex}`;
    if (kind === 'reasoning')
      return (
        this.event('response.output_item.added', `${at},"item":{"id":"${this.openId}","type":"reasoning","summary":[]}`) +
        this.event('response.content_part.added', `"item_id":"${this.openId}",${at},"content_index":0,"part":{"type":"reasoning_text","text":""}`)
      );
    return (
      this.event('response.output_item.added', `${at},"item":{"id":"${this.openId}","type":"message","status":"in_progress","content":[],"role":"assistant"}`) +
      this.event(
        'response.content_part.added',
        `"item_id":"${this.openId}",${at},"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}`,
      )
    );
  }

  private closeText(): string {
    const kind = this.openKind;
    if (kind === null) return '';
    this.openKind = null;
    const text = this.openText.length === 1 ? this.openText[0] : this.openText.join('');
    this.openText = [];
    const at = `"item_id":"${this.openId}","output_index":${this.openIndex},"content_index":0`;
    const t = JSON.stringify(text);
    let item: Record<string, any>;
    let out: string;
    if (kind === 'reasoning') {
      out =
        this.event('response.reasoning_text.done', `${at},"text":${t}`) +
        this.event('response.content_part.done', `${at},"part":{"type":"reasoning_text","text":${t}}`);
      item = { id: this.openId, type: 'reasoning', summary: [], content: [{ type: 'reasoning_text', text }] };
    } else {
      out =
        this.event('response.output_text.done', `${at},"text":${t},"logprobs":[]`) +
        this.event('response.content_part.done', `${at},"part":{"type":"output_text","annotations":[],"logprobs":[],"text":${t}}`);
      item = {
        id: this.openId,
        type: 'message',
        status: 'completed',
        content: [{ type: 'output_text', annotations: [], logprobs: [], text }],
        role: 'assistant',
      };
    }
    this.output[this.openIndex] = item;
    return out + this.event('response.output_item.done', `"output_index":${this.openIndex},"item":${JSON.stringify(item)}`);
  }

  private toolDelta(tc: Record<string, any>): string {
    const k: number = typeof tc.index === 'number' ? tc.index : 0;
    let out = '';
    let call = this.calls.get(k);
    const newId = typeof tc.id === 'string' && tc.id.length > 0 && this.idOfTool[k] !== undefined && tc.id !== this.idOfTool[k];
    if (call === undefined || newId) {
      if (call !== undefined) out += this.closeCall(k, call);
      out += this.closeText();
      const f = tc.function ?? {};
      const name: string = f.name ?? '';
      const callId: string = tc.id ?? `call_${(this.id as string).slice(5)}_${this.items}`;
      call = { index: this.items++, callId, name, args: [], custom: this.custom.has(name) };
      this.calls.set(k, call);
      this.idOfTool[k] = tc.id;
      const item = call.custom
        ? `{"id":"ctc_${callId}","type":"custom_tool_call","status":"in_progress","call_id":${JSON.stringify(callId)},"name":${JSON.stringify(name)},"input":""}`
        : `{"id":"fc_${callId}","type":"function_call","status":"in_progress","arguments":"","call_id":${JSON.stringify(callId)},"name":${JSON.stringify(name)}}`;
      out += this.event('response.output_item.added', `"output_index":${call.index},"item":${item}`);
    }
    const args = tc.function?.arguments;
    if (typeof args === 'string' && args.length > 0) {
      call.args.push(args);
      if (!call.custom)
        out += this.event(
          'response.function_call_arguments.delta',
          `"item_id":"fc_${call.callId}","output_index":${call.index},"delta":${JSON.stringify(args)}`,
        );
    }
    return out;
  }

  private closeCall(k: number, call: OpenCall): string {
    this.calls.delete(k);
    const args = call.args.join('');
    const item = callItemOf(call.callId, call.name, args, call.custom);
    this.output[call.index] = item;
    let out = '';
    if (call.custom) {
      // The input is the `input` string of the JSON arguments: known whole only now.
      const at = `"item_id":"ctc_${call.callId}","output_index":${call.index}`;
      const input = JSON.stringify(item.input);
      out += this.event('response.custom_tool_call_input.delta', `${at},"delta":${input}`);
      out += this.event('response.custom_tool_call_input.done', `${at},"input":${input}`);
    } else
      out += this.event(
        'response.function_call_arguments.done',
        `"item_id":"fc_${call.callId}","output_index":${call.index},"arguments":${JSON.stringify(args)}`,
      );
    return out + this.event('response.output_item.done', `"output_index":${call.index},"item":${JSON.stringify(item)}`);
  }

  private closeCalls(): string {
    if (this.calls.size === 0) return '';
    let out = '';
    // In output order (the order they were opened).
    const open = [...this.calls.entries()].sort((a, b) => a[1].index - b[1].index);
    for (const [k, call] of open) out += this.closeCall(k, call);
    return out;
  }
}
