import { PromptBuilder, type PromptText } from '../../promptEstimate.ts';

// What in an OpenAI request the upstream turns into prompt tokens (counted
// and bounded by promptEstimate.ts).

function isTokenIds(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && typeof v[0] === 'number';
}

function partsText(content: unknown, acc: PromptBuilder): void {
  if (typeof content === 'string') acc.add(content);
  else if (Array.isArray(content)) {
    for (const part of content) {
      if (typeof part === 'string') acc.add(part);
      else if (!part || typeof part !== 'object') continue;
      else if (part.type === 'text' && typeof part.text === 'string') acc.add(part.text);
      else if (part.type === 'image_url' || part.type === 'input_image' || part.type === 'image') acc.image();
      else if (part.type === 'input_audio') acc.audio();
      else acc.add(JSON.stringify(part)); // a part Tally does not know: its JSON text, so the ceiling still covers it
    }
  } else if (content && typeof content === 'object') acc.add(JSON.stringify(content));
}

/** Token ids, strings, or arrays of either (completions `prompt`, embeddings `input`). */
function promptText(v: unknown, acc: PromptBuilder): void {
  if (typeof v === 'string') acc.add(v);
  else if (isTokenIds(v)) acc.addTokens(v.length);
  else if (Array.isArray(v)) for (const x of v) promptText(x, acc); // one level: parse.ts allows no deeper
}

/**
 * The prompt of a request body (already checked by parse.ts, and at most
 * MAX_JSON_DEPTH deep, so JSON.stringify here cannot overflow the stack).
 */
export function collectPrompt(body: Record<string, any>): PromptText {
  const acc = new PromptBuilder();
  if (Array.isArray(body.messages)) {
    for (const m of body.messages) {
      acc.message();
      if (!m || typeof m !== 'object') continue;
      partsText(m.content, acc);
      if (m.tool_calls) acc.add(JSON.stringify(m.tool_calls));
      if (m.function_call) acc.add(JSON.stringify(m.function_call));
      if (typeof m.name === 'string') acc.add(m.name);
    }
  }
  if (body.prompt !== undefined && body.prompt !== null) promptText(body.prompt, acc);
  if (body.input !== undefined && body.input !== null) promptText(body.input, acc);
  if (body.tools) acc.add(JSON.stringify(body.tools));
  if (body.functions) acc.add(JSON.stringify(body.functions));
  if (body.response_format?.json_schema) acc.add(JSON.stringify(body.response_format.json_schema));
  return acc.done();
}
