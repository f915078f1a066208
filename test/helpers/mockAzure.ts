// Azure OpenAI in front of the OpenAI mock (mockOpenAI.ts): serves
// POST /openai/deployments/{deployment}/{chat/completions|completions|embeddings}?api-version=...
// with the `api-key` header, records what Azure would check (deployment,
// api-version, api-key), and forwards the call to the OpenAI mock as
// /v1/... with a Bearer key (Azure answers in OpenAI's format, so the
// answer passes back unchanged). Anything else: Azure's 404.
import { createServer, request, type IncomingMessage } from 'node:http';

export interface AzureCall {
  path: string;
  deployment: string;
  endpoint: string;
  apiVersion: string | null;
  apiKey: string | null;
  authorization: string | null;
}

export interface MockAzure {
  /** The resource base URL, as an operator enters it (no path). */
  url: string;
  calls: AzureCall[];
  close(): Promise<void>;
}

const PATH = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/;

/** `openaiPort`: the OpenAI mock's port; `bearer`: the key it expects. */
export async function startMockAzure(opts: { openaiPort: number; bearer: string; apiKey: string }): Promise<MockAzure> {
  const calls: AzureCall[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const url = new URL(req.url ?? '/', 'http://azure');
    const m = PATH.exec(url.pathname);
    const header = (n: string) => (typeof req.headers[n] === 'string' ? (req.headers[n] as string) : null);
    if (!m || req.method !== 'POST') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: '404', message: 'Resource not found' } }));
      return;
    }
    calls.push({
      path: url.pathname,
      deployment: decodeURIComponent(m[1]),
      endpoint: m[2],
      apiVersion: url.searchParams.get('api-version'),
      apiKey: header('api-key'),
      authorization: header('authorization'),
    });
    if (!url.searchParams.get('api-version')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: '404', message: 'Resource not found' } }));
      return;
    }
    if (header('api-key') !== opts.apiKey) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: {
            code: '401',
            message:
              'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
          },
        }),
      );
      return;
    }
    const up = request(
      {
        host: '127.0.0.1',
        port: opts.openaiPort,
        method: 'POST',
        path: `/v1/${m[2]}`,
        headers: { 'content-type': 'application/json', accept: header('accept') ?? '*/*', authorization: `Bearer ${opts.bearer}` },
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
