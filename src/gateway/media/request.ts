import type { Dispatcher } from 'undici';
import type { GatewayCall } from '../call.ts';
import type { RuntimeChannel } from '../catalog.ts';
import { MEDIA_PATH } from './call.ts';

// The upstream request of an image or audio call, for any channel speaking
// OpenAI's media API (openai, azure: the provider gives the path and the
// auth header). The caller's body goes as received: a multipart body byte
// for byte with a content-type rebuilt from the boundary Tally parsed
// (media/call.ts MediaForm.contentType), JSON as its text;
// only the model is renamed when the channel maps it (in a multipart body,
// the model field's bytes are replaced in place: one copy, no re-encoding).

/** The body to send for `upstreamModel`. */
export function mediaBody(call: GatewayCall, upstreamModel: string): { body: Buffer | string; contentType: string } {
  const form = call.media!.form;
  if (form) {
    if (upstreamModel === call.model) return { body: form.bytes, contentType: form.contentType };
    const { start, end } = form.model;
    const b = form.bytes;
    return { body: Buffer.concat([b.subarray(0, start), Buffer.from(upstreamModel, 'utf8'), b.subarray(end)]), contentType: form.contentType };
  }
  if (upstreamModel === call.model) return { body: call.raw, contentType: 'application/json' };
  return { body: JSON.stringify({ ...call.body, model: upstreamModel }), contentType: 'application/json' };
}

/** The endpoint's path after the channel's prefix (/images/generations...). */
export const mediaPath = (call: GatewayCall): string => MEDIA_PATH[call.endpoint]!;

export function mediaRequest(
  ch: RuntimeChannel,
  call: GatewayCall,
  upstreamModel: string,
  path: string,
  auth: Record<string, string>,
): Dispatcher.DispatchOptions {
  const { body, contentType } = mediaBody(call, upstreamModel);
  return {
    path,
    method: 'POST',
    headers: { 'content-type': contentType, ...auth },
    body,
    headersTimeout: ch.firstByteTimeoutMs,
    bodyTimeout: ch.firstByteTimeoutMs,
  };
}
