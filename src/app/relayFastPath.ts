import type { IncomingMessage, ServerResponse } from 'node:http';
import proxyaddr from '@fastify/proxy-addr';
import type { AppContext } from '../context.ts';
import { newId } from '../lib/ids.ts';
import { TallyError } from '../lib/errors.ts';
import type { Endpoint } from '../gateway/call.ts';
import { PROTOCOLS, type Protocol } from '../gateway/protocols/index.ts';
import { parseJsonBody } from './jsonBody.ts';

interface Route {
  protocol: Protocol;
  endpoint: Endpoint;
  /** What a pattern route's path named (Protocol.matchPath). */
  params?: Readonly<Record<string, string>>;
}

/** A protocol's pattern routes under one root (Protocol.roots: Gemini's /v1beta). */
interface PatternRoot {
  root: string;
  protocol: Protocol;
}

/** A body this large is decoded and parsed in one turn of the event loop, and its prompt read in the next. */
const LARGE_BODY = 256 * 1024;

/**
 * The relay's POST endpoints are served straight from node:http, in front of
 * fastify: the relay writes its own responses (bytes from upstream), so
 * fastify's routing, hooks and reply objects would be pure overhead on the
 * path every request takes (measured in bench/). Everything else goes to
 * fastify. Returns a handler that answers true when it took the request.
 */
function fail(res: ServerResponse, requestId: string, protocol: Protocol, err: TallyError): void {
  if (!res.headersSent) protocol.writeError(res, err, requestId);
}

export function createRelayFastPath(ctx: AppContext): (req: IncomingMessage, res: ServerResponse) => boolean {
  // Every protocol's routes under every API prefix (protocols/index.ts).
  const routes = new Map<string, Route>();
  for (const prefix of ctx.config.apiPrefixes) {
    for (const protocol of PROTOCOLS) for (const [path, endpoint] of protocol.routes) routes.set(prefix + path, { protocol, endpoint });
  }
  // Routes with values in the path (Gemini's /v1beta/models/{model}:generateContent), tried when no exact route matched; longest root first.
  const patterns: PatternRoot[] = [];
  for (const prefix of ctx.config.apiPrefixes) {
    for (const protocol of PROTOCOLS) if (protocol.matchPath) for (const root of protocol.roots?.(prefix) ?? [prefix]) patterns.push({ root, protocol });
  }
  patterns.sort((a, b) => b.root.length - a.root.length);
  const matchPattern = (path: string): Route | undefined => {
    for (const { root, protocol } of patterns) {
      if (path.length <= root.length || path.charCodeAt(root.length) !== 47 || !path.startsWith(root)) continue;
      const m = protocol.matchPath!(path.slice(root.length));
      if (m) return { protocol, endpoint: m.endpoint, params: m.params };
    }
    return undefined;
  };
  const limit = ctx.config.maxBodyBytes;
  const trust = ctx.config.trustProxy === false ? null : proxyaddr.compile(ctx.config.trustProxy);
  const clientIp = (req: IncomingMessage) => (trust ? proxyaddr(req, trust) : (req.socket.remoteAddress ?? ''));

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const route = routes.get(path) ?? (patterns.length ? matchPattern(path) : undefined);
    if (!route) return false;
    const { protocol, endpoint, params } = route;
    const requestId = newId('req');
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      res.shouldKeepAlive = false;
      fail(res, requestId, protocol, new TallyError('body_too_large', `the request body is ${declared} bytes; this server accepts at most ${limit}`));
      req.resume();
      return true;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      if (tooLarge) return;
      size += c.length;
      if (size > limit) {
        tooLarge = true;
        res.shouldKeepAlive = false;
        fail(res, requestId, protocol, new TallyError('body_too_large', `the request body is larger than the ${limit} bytes this server accepts`));
        return;
      }
      chunks.push(c);
    });
    // A media route's multipart/form-data body (images.edits, audio transcriptions) goes on as bytes, never decoded as text.
    const contentType = req.headers['content-type'] ?? '';
    const multipart = protocol.multipart === true && /^multipart\/form-data\b/i.test(contentType);
    req.on('end', () => {
      if (tooLarge) return;
      if (multipart) {
        const form = { bytes: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size), contentType };
        ctx.relay.handle({ protocol, endpoint, body: null, raw: '', form, ip: clientIp(req), requestId, req, res }).catch((e) => {
          ctx.log.error({ err: e, requestId }, 'relay failed');
          fail(res, requestId, protocol, new TallyError('internal_error', 'an internal error occurred; it has been logged with this request id'));
        });
        return;
      }
      let body: unknown;
      const raw = (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8');
      try {
        body = parseJsonBody(raw);
      } catch (e) {
        fail(res, requestId, protocol, e as TallyError);
        return;
      }
      const handle = () =>
        ctx.relay.handle({ protocol, endpoint, body, raw, ip: clientIp(req), requestId, req, res, params }).catch((e) => {
          ctx.log.error({ err: e, requestId }, 'relay failed');
          fail(res, requestId, protocol, new TallyError('internal_error', 'an internal error occurred; it has been logged with this request id'));
        });
      // A large body has just cost a decode and a parse on the event loop: let other requests run before its prompt is read.
      if (raw.length > LARGE_BODY) setImmediate(handle);
      else handle();
    });
    req.on('error', () => res.destroy());
    return true;
  };
}
