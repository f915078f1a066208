import type { Protocol } from '../../index.ts';
import { openaiProtocol } from '../index.ts';
import { writeOpenAIError } from '../errors.ts';
import { parseOpenAIMediaCall } from './parse.ts';

// OpenAI's images and audio endpoints as callers speak them (the official
// SDK's images.generate / images.edit / audio.speech.create /
// audio.transcriptions.create / audio.translations.create). Edits,
// transcriptions and translations arrive as multipart/form-data, which the
// relay's fast path hands over as bytes (Inbound.form). Held, relayed and
// charged by src/gateway/media/ through the same charge steps as text.

export const openaiMediaProtocol: Protocol = {
  name: 'openai',
  routes: [
    ['/images/generations', 'images.generations'],
    ['/images/edits', 'images.edits'],
    ['/audio/speech', 'audio.speech'],
    ['/audio/transcriptions', 'audio.transcriptions'],
    ['/audio/translations', 'audio.translations'],
  ],
  multipart: true,
  apiKey: openaiProtocol.apiKey,
  parse: parseOpenAIMediaCall,
  writeError: writeOpenAIError,
  // Audio bytes cannot carry an error event: a broken answer simply ends (and is charged as media/bill.ts says).
  streamBrokenEvent: '',
  requestIdHeader: null,
};
