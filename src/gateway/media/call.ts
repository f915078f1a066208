import type { Endpoint } from '../call.ts';
import type { ModelKind } from '../pricing.ts';

// What the charge steps need to know about an image or audio request, read
// by the media protocol (protocols/openai/media/) before anything is held.

export type MediaKind = Extract<ModelKind, 'image' | 'speech' | 'transcription'>;

/** The model kind each media endpoint serves: an image model cannot be asked for speech. */
export const MEDIA_KIND: Partial<Record<Endpoint, MediaKind>> = {
  'images.generations': 'image',
  'images.edits': 'image',
  'audio.speech': 'speech',
  'audio.transcriptions': 'transcription',
  'audio.translations': 'transcription',
};

/** The upstream path of each media endpoint (after the channel's /v1, or Azure's deployment). */
export const MEDIA_PATH: Partial<Record<Endpoint, string>> = {
  'images.generations': '/images/generations',
  'images.edits': '/images/edits',
  'audio.speech': '/audio/speech',
  'audio.transcriptions': '/audio/transcriptions',
  'audio.translations': '/audio/translations',
};

/** A multipart/form-data request as received: sent upstream byte for byte (the model field's value rewritten when the channel maps it). */
export interface MediaForm {
  bytes: Buffer;
  /** `multipart/form-data; boundary=<the boundary parsed>`: rebuilt, never the caller's header as sent. */
  contentType: string;
  /** The model field's value: bytes[start, end). */
  model: { start: number; end: number };
}

export interface MediaCall {
  kind: MediaKind;
  /** The multipart body, or null for a JSON request (call.body / call.raw). */
  form: MediaForm | null;
  /** Images asked for (n, default 1); 1 for audio. */
  n: number;
  /** The image size asked for ("1024x1536", "auto"), or null. */
  size: string | null;
  /** The image quality asked for ("hd", "high", "auto"), or null. */
  quality: string | null;
  /** Input images (an edit's image files, or JSON images[]): each may cost up to the model's max output tokens as input. */
  inputImages: number;
  /** Speech: the input's characters (Unicode code points), what a speech model's input price is per 1M of. */
  characters: number;
  /** The text prompt's UTF-8 bytes: no tokenizer makes more tokens than bytes, so it bounds the text prompt's tokens. */
  promptBytes: number;
  /** Transcriptions: the audio's play time read from the file's header (WAV), in ms, or null. */
  audioMs: number | null;
  /** response_format as asked ("json", "verbose_json", "text", "mp3"...), or null. */
  responseFormat: string | null;
}
