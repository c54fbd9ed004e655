// The HTTP client of the bench cases that drive Baton from inside the bench process (multi-step flows wrk
// cannot express: submit → claim → complete, lock handoffs, long polls). node:http with a keep-alive agent:
// fetch (undici) costs several times more CPU per request, and on a 2-core machine the bench process
// saturated its core with fetch before Baton was busy — the cases measured their own client.
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

export interface Answer {
  status: number;
  text: string;
  /** performance.now() when the whole answer had arrived. */
  at: number;
}

export function send(baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${baseUrl}${path}`,
      {
        method,
        agent,
        headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, at: performance.now() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** POST a JSON body; the answer's JSON (or null when empty). */
export async function postJson<T = Record<string, unknown>>(baseUrl: string, path: string, headers: Record<string, string>, body: unknown) {
  const a = await send(baseUrl, 'POST', path, headers, body);
  return { status: a.status, json: (a.text ? JSON.parse(a.text) : null) as T, at: a.at };
}
