import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

// The plumbing every mock upstream shares (OpenAI, Anthropic, Gemini,
// Responses): read the whole body, hand it to the mock's handler, cut a
// response on purpose, wait on timers that close() clears, track sockets so
// close() never waits on a keep-alive connection. Each mock keeps its own wire
// format; this file knows none.

export interface MockServer {
  server: Server;
  /** True once close() began: a response cut then is the mock's doing, not the client's. */
  readonly closing: boolean;
  /** Destroys the response's socket on purpose. */
  cut(res: ServerResponse): void;
  /** Records how `res` ended on `record.outcome`: completed, cut by the mock (or its close), or closed by the client. */
  trackOutcome(res: ServerResponse, record: { outcome?: 'completed' | 'mock_closed' | 'client_closed' | string }): void;
  /** A delay that close() cancels. */
  wait(ms: number): Promise<void>;
  openConnections(): number;
  /** Listens on 127.0.0.1 on a free port; returns the port. */
  listen(): Promise<number>;
  close(): Promise<void>;
}

/**
 * `handle` gets the request with its whole body as text; when it throws,
 * `fail` answers 500 in the mock's own error shape (or the socket is
 * destroyed if the answer had begun).
 */
export function mockServer(
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => Promise<unknown>,
  fail: (res: ServerResponse, message: string) => void,
): MockServer {
  const sockets = new Set<Socket>();
  const cutting = new WeakSet<ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();
  let closing = false;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((e) => {
        if (!res.headersSent && !res.destroyed) fail(res, `mock failure: ${(e as Error).message}`);
        else res.destroy();
      });
    });
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    server,
    get closing() {
      return closing;
    },
    trackOutcome(res, record) {
      res.on('finish', () => {
        record.outcome ??= 'completed';
      });
      res.on('close', () => {
        if (!res.writableFinished) record.outcome ??= cutting.has(res) || closing ? 'mock_closed' : 'client_closed';
      });
    },
    cut(res) {
      cutting.add(res);
      res.socket?.destroy();
    },
    wait: (ms) =>
      ms > 0
        ? new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              timers.delete(t);
              resolve();
            }, ms);
            timers.add(t);
          })
        : Promise.resolve(),
    openConnections: () => sockets.size,
    async listen() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      const addr = server.address();
      return typeof addr === 'object' && addr ? addr.port : 0;
    },
    async close() {
      closing = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
