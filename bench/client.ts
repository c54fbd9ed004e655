// The HTTP client of the bench cases that drive Baton from inside the bench process (multi-step flows wrk
// cannot express: submit → claim → complete, lock handoffs, long polls). The load generator shares its CPU with
// Redis, so what it spends per request is taken from the system under test:
// - fetch (undici) cost several times more CPU per request than node:http, and the bench process saturated its
//   core with fetch before Baton was busy;
// - node:http with a keep-alive agent (until session 17) still left Baton 40-70 % busy in the HTTP-worker case,
//   the client and Redis using the whole load CPU: that case measured its own client.
// So: HTTP/1.1 over raw keep-alive sockets, one request in flight per connection, the connection back to a pool
// when its answer is complete. It sends what the cases send (a JSON body, or none) and reads what Baton answers
// (Content-Length, or chunked, or no body for 204/304); nothing more of HTTP.
import net from 'node:net';

export interface Answer {
  status: number;
  text: string;
  /** performance.now() when the whole answer had arrived. */
  at: number;
}

interface Pending {
  resolve: (a: Answer) => void;
  reject: (err: Error) => void;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** One keep-alive connection: parses the answer to its one request in flight. */
class Connection {
  readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private pending: Pending | undefined;
  /** Set by the parser: keep the socket for the next request. */
  private reusable = true;
  closed = false;

  constructor(host: string, port: number, private readonly release: (c: Connection) => void) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (err?: Error) => {
      this.closed = true;
      const p = this.pending;
      this.pending = undefined;
      p?.reject(err ?? new Error('connection closed before the answer'));
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail());
  }

  send(request: string, p: Pending): void {
    this.pending = p;
    this.socket.write(request);
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const answer = this.parse();
    if (!answer) return;
    this.buf = Buffer.alloc(0);
    const p = this.pending;
    this.pending = undefined;
    if (this.reusable) this.release(this);
    else this.socket.destroy();
    p?.resolve(answer);
  }

  /** The complete answer in the buffer, or undefined while it is still arriving. */
  private parse(): Answer | undefined {
    const headEnd = this.buf.indexOf(CRLF2);
    if (headEnd < 0) return undefined;
    const head = this.buf.toString('latin1', 0, headEnd);
    const lines = head.split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    let length = -1;
    let chunked = false;
    this.reusable = true;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === 'content-length') length = Number(value);
      else if (name === 'transfer-encoding') chunked = value.includes('chunked');
      else if (name === 'connection') this.reusable = value !== 'close';
    }
    const bodyStart = headEnd + 4;
    let body: Buffer;
    if (status === 204 || status === 304 || (length < 0 && !chunked)) body = Buffer.alloc(0);
    else if (!chunked) {
      if (this.buf.length < bodyStart + length) return undefined;
      body = this.buf.subarray(bodyStart, bodyStart + length);
    } else {
      const parts: Buffer[] = [];
      let at = bodyStart;
      for (;;) {
        const lineEnd = this.buf.indexOf('\r\n', at);
        if (lineEnd < 0) return undefined;
        const size = parseInt(this.buf.toString('latin1', at, lineEnd), 16);
        if (size === 0) {
          if (this.buf.length < lineEnd + 4) return undefined; // the last chunk's CRLF and the empty trailer
          break;
        }
        if (this.buf.length < lineEnd + 2 + size + 2) return undefined;
        parts.push(this.buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    }
    return { status, text: body.toString('utf8'), at: performance.now() };
  }
}

/** Idle connections per origin (host:port). */
const idle = new Map<string, Connection[]>();

function connectionTo(origin: URL): Connection {
  const key = origin.host;
  let pool = idle.get(key);
  if (!pool) idle.set(key, (pool = []));
  for (let c = pool.pop(); c; c = pool.pop()) {
    if (c.closed) continue;
    c.socket.ref();
    return c;
  }
  // An idle connection does not keep the process alive (as node:http's agent does).
  return new Connection(origin.hostname, Number(origin.port || 80), (c) => {
    if (c.closed) return;
    c.socket.unref();
    pool.push(c);
  });
}

const origins = new Map<string, URL>();
function originOf(baseUrl: string): URL {
  let origin = origins.get(baseUrl);
  if (!origin) origins.set(baseUrl, (origin = new URL(baseUrl)));
  return origin;
}

/**
 * A request's text, built once: a loop that sends the same request over and over (a batch of ten bodies is
 * about 10 µs of JSON.stringify) spends nothing on building it again.
 */
export function prepare(baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: unknown): string {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  let request = `${method} ${path} HTTP/1.1\r\nhost: ${originOf(baseUrl).host}\r\n`;
  for (const [name, value] of Object.entries(headers)) request += `${name}: ${value}\r\n`;
  request += payload === undefined
    ? 'content-length: 0\r\n\r\n'
    : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`;
  return request;
}

/** Send a prepared request; the answer once it is complete. */
export function sendPrepared(baseUrl: string, request: string): Promise<Answer> {
  return new Promise((resolve, reject) => connectionTo(originOf(baseUrl)).send(request, { resolve, reject }));
}

/** `body` is sent as JSON (a string: as it is, already JSON). */
export function send(baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Answer> {
  return sendPrepared(baseUrl, prepare(baseUrl, method, path, headers, body));
}

/** POST a JSON body; the answer's JSON (or null when empty). */
export async function postJson<T = Record<string, unknown>>(baseUrl: string, path: string, headers: Record<string, string>, body: unknown) {
  const a = await send(baseUrl, 'POST', path, headers, body);
  return { status: a.status, json: (a.text ? JSON.parse(a.text) : null) as T, at: a.at };
}
