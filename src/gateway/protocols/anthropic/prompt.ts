import { PromptBuilder, type PromptText } from '../../promptEstimate.ts';

// What in an Anthropic Messages request the upstream turns into prompt tokens
// (counted and bounded by promptEstimate.ts): the system prompt, every content
// block of every message, and the tool definitions. `cache_control` marks do
// not change the count (a cache read is still a prompt token, billed at its
// own price once the upstream reports it).

function blocksText(content: unknown, acc: PromptBuilder): void {
  if (typeof content === 'string') {
    acc.add(content);
    return;
  }
  if (!Array.isArray(content)) {
    if (content && typeof content === 'object') acc.add(JSON.stringify(content));
    return;
  }
  for (const b of content) {
    if (typeof b === 'string') acc.add(b);
    else if (!b || typeof b !== 'object') continue;
    else if (b.type === 'text' && typeof b.text === 'string') acc.add(b.text);
    else if (b.type === 'image') acc.image();
    else if (b.type === 'thinking' && typeof b.thinking === 'string') acc.add(b.thinking);
    else if (b.type === 'redacted_thinking')
      continue; // opaque: the upstream does not bill it as prompt text Tally can count
    else if (b.type === 'tool_use') {
      if (typeof b.name === 'string') acc.add(b.name);
      acc.add(JSON.stringify(b.input ?? {}));
    } else if (b.type === 'tool_result') blocksText(b.content, acc);
    else acc.add(JSON.stringify(b)); // documents and blocks Tally does not know: their JSON text, so the ceiling still covers them
  }
}

/** The prompt of a Messages (or count_tokens) body, already checked by parse.ts. */
export function collectAnthropicPrompt(body: Record<string, any>): PromptText {
  const acc = new PromptBuilder();
  if (body.system !== undefined && body.system !== null) blocksText(body.system, acc);
  for (const m of body.messages as unknown[]) {
    acc.message();
    if (m && typeof m === 'object') blocksText((m as { content?: unknown }).content, acc);
  }
  if (Array.isArray(body.tools) && body.tools.length) acc.add(JSON.stringify(body.tools));
  return acc.done();
}
