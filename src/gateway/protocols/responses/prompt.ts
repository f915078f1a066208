import { PromptBuilder, type PromptText } from '../../promptEstimate.ts';

// What in a Responses request the upstream turns into prompt tokens (counted
// and bounded by promptEstimate.ts): the instructions, every input item
// (message parts, earlier function calls and their outputs, reasoning
// summaries), the tool definitions and a JSON schema output format. An
// earlier reasoning item's `encrypted_content` is not counted: it is opaque,
// and OpenAI does not bill it as prompt text Tally could count. A response
// named by `previous_response_id` is input too, but only the upstream knows
// it: the hold covers what this request carries, and the charge is what the
// upstream reports.

function contentText(content: unknown, acc: PromptBuilder): void {
  if (typeof content === 'string') {
    acc.add(content);
    return;
  }
  if (!Array.isArray(content)) {
    if (content && typeof content === 'object') acc.add(JSON.stringify(content));
    return;
  }
  for (const p of content) {
    if (typeof p === 'string') acc.add(p);
    else if (!p || typeof p !== 'object') continue;
    else if (typeof p.text === 'string')
      acc.add(p.text); // input_text, output_text, summary_text
    else if (p.type === 'input_image') acc.image();
    else if (p.type === 'input_audio') acc.audio();
    else if (typeof p.refusal === 'string') acc.add(p.refusal);
    else acc.add(JSON.stringify(p)); // files and parts Tally does not know: their JSON text, so the ceiling still covers them
  }
}

function itemText(it: Record<string, any>, acc: PromptBuilder): void {
  switch (it.type) {
    case 'function_call':
    case 'custom_tool_call':
      if (typeof it.name === 'string') acc.add(it.name);
      acc.add(typeof it.arguments === 'string' ? it.arguments : typeof it.input === 'string' ? it.input : '');
      return;
    case 'function_call_output':
    case 'custom_tool_call_output':
      contentText(it.output, acc);
      return;
    case 'reasoning':
      if (Array.isArray(it.summary)) contentText(it.summary, acc);
      if (Array.isArray(it.content)) contentText(it.content, acc);
      return;
    case 'item_reference':
      return;
    default:
      if (it.type === 'message' || (it.type === undefined && it.role !== undefined)) contentText(it.content, acc);
      else acc.add(JSON.stringify(it)); // hosted tool calls and items Tally does not know
  }
}

/** The prompt of a Responses body, already checked by parse.ts. */
export function collectResponsesPrompt(body: Record<string, any>): PromptText {
  const acc = new PromptBuilder();
  if (typeof body.instructions === 'string' && body.instructions) {
    acc.message();
    acc.add(body.instructions);
  }
  if (typeof body.input === 'string') {
    acc.message();
    acc.add(body.input);
  } else if (Array.isArray(body.input)) {
    for (const it of body.input) {
      acc.message();
      if (it && typeof it === 'object') itemText(it, acc);
    }
  }
  if (Array.isArray(body.tools) && body.tools.length) acc.add(JSON.stringify(body.tools));
  const format = body.text?.format;
  if (format && typeof format === 'object' && format.schema) acc.add(JSON.stringify(format.schema));
  return acc.done();
}
