// cl100k_base rather than o200k: about 30 MB less memory, and the estimate is
// an upper bound with a margin either way.
import { countTokens } from 'gpt-tokenizer/encoding/cl100k_base';

// Token estimates for holds and counts for upstreams that report no usage.
// gpt-tokenizer (cl100k_base) is a real BPE tokenizer; other providers' tokenizers
// differ, so the prompt estimate gets a 10% margin plus per-message overhead
// to stay an upper bound (usage above the hold is booked as uncollected).

const PER_MESSAGE = 4;
const PER_IMAGE = 1_105; // a high-detail 1024x1024 image under OpenAI's tile formula (765) with headroom

function textOf(content: unknown, acc: { text: string; images: number }): void {
  if (typeof content === 'string') acc.text += content + '\n';
  else if (Array.isArray(content)) {
    for (const part of content) {
      if (part?.type === 'text' && typeof part.text === 'string') acc.text += part.text + '\n';
      else if (part?.type === 'image_url' || part?.type === 'input_image' || part?.type === 'image') acc.images++;
      else if (part?.type === 'input_audio') acc.images += 2;
    }
  } else if (content && typeof content === 'object') acc.text += JSON.stringify(content);
}

export function countText(text: string): number {
  return text ? countTokens(text) : 0;
}

/** Upper-bound estimate of the prompt tokens (counted + 10%), for holds. */
export function estimatePromptTokens(body: Record<string, any>): number {
  return Math.ceil(countPromptTokens(body) * 1.1);
}

/** The prompt tokens as Tally counts them, for billing when upstream reports no usage. */
export function countPromptTokens(body: Record<string, any>): number {
  const acc = { text: '', images: 0 };
  let messages = 0;
  if (Array.isArray(body.messages)) {
    for (const m of body.messages) {
      messages++;
      if (m && typeof m === 'object') {
        textOf(m.content, acc);
        if (m.tool_calls) acc.text += JSON.stringify(m.tool_calls);
        if (typeof m.name === 'string') acc.text += m.name;
      }
    }
  }
  if (body.prompt !== undefined) textOf(Array.isArray(body.prompt) ? body.prompt.map((p: unknown) => (typeof p === 'string' ? p : JSON.stringify(p))).join('\n') : body.prompt, acc);
  if (body.input !== undefined) {
    if (typeof body.input === 'string') acc.text += body.input;
    else if (Array.isArray(body.input)) for (const i of body.input) acc.text += (typeof i === 'string' ? i : JSON.stringify(i)) + '\n';
  }
  if (body.tools) acc.text += JSON.stringify(body.tools);
  if (body.functions) acc.text += JSON.stringify(body.functions);
  if (body.response_format?.json_schema) acc.text += JSON.stringify(body.response_format.json_schema);
  return countText(acc.text) + messages * PER_MESSAGE + acc.images * PER_IMAGE + 3;
}
