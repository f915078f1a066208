import { PromptBuilder, type PromptText } from '../../promptEstimate.ts';

// What in a Gemini generateContent (or countTokens) request the upstream
// turns into prompt tokens (counted and bounded by promptEstimate.ts): the
// system instruction, every part of every content (text, a function call's
// name and args, a function response, thought text the client sent back),
// media parts as images, and the function declarations. Parts Tally does not
// know count as their JSON text, so the ceiling still covers them.

function partsText(parts: unknown, acc: PromptBuilder): void {
  if (!Array.isArray(parts)) {
    if (parts && typeof parts === 'object') acc.add(JSON.stringify(parts));
    return;
  }
  for (const p of parts) {
    if (!p || typeof p !== 'object') continue;
    if (typeof p.text === 'string') acc.add(p.text);
    else if (p.inlineData || p.fileData) acc.image();
    else if (p.functionCall && typeof p.functionCall === 'object') {
      if (typeof p.functionCall.name === 'string') acc.add(p.functionCall.name);
      acc.add(JSON.stringify(p.functionCall.args ?? {}));
    } else if (p.functionResponse && typeof p.functionResponse === 'object') {
      if (typeof p.functionResponse.name === 'string') acc.add(p.functionResponse.name);
      acc.add(JSON.stringify(p.functionResponse.response ?? {}));
    } else if (p.thoughtSignature !== undefined && Object.keys(p).length === 1)
      continue; // an opaque signature alone: not prompt text
    else acc.add(JSON.stringify(p));
  }
}

/** The prompt of a generateContent body, or of a countTokens body (`{contents}` or `{generateContentRequest}`), already checked by parse.ts. */
export function collectGeminiPrompt(body: Record<string, any>): PromptText {
  const req = body.generateContentRequest && typeof body.generateContentRequest === 'object' ? body.generateContentRequest : body;
  const acc = new PromptBuilder();
  const sys = req.systemInstruction;
  if (typeof sys === 'string') acc.add(sys);
  else if (sys && typeof sys === 'object') partsText(sys.parts, acc);
  for (const c of Array.isArray(req.contents) ? req.contents : []) {
    acc.message();
    if (c && typeof c === 'object') partsText(c.parts, acc);
  }
  if (Array.isArray(req.tools) && req.tools.length) acc.add(JSON.stringify(req.tools));
  return acc.done();
}
