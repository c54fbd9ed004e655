// Bearer API keys → tenant + scopes on request.auth. Keys are kept only as sha256 digests; the lookup is a
// constant-time compare of digests. A route names the scope it needs in `config.scope`; routes marked
// `config.public` (health, metrics, docs) need no key while BATON_PUBLIC_OPS is true.
// With no keys configured (development only) every request is tenant "default" with every scope.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { SCOPES, type ApiKey, type Scope } from '../src/config.js';
import { AppError } from '../src/errors.js';

export interface AuthContext {
  tenant: string;
  scopes: ReadonlySet<Scope>;
  /** A short, non-secret id of the key (first 12 hex digits of its sha256), for rate limits and logs. */
  keyId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext;
  }
  interface FastifyContextConfig {
    /** The scope a route requires. */
    scope?: Scope;
    /** Health, metrics and docs: no key needed while BATON_PUBLIC_OPS is on (then they need `admin`). */
    public?: boolean;
  }
}

const DEV_AUTH: AuthContext = { tenant: 'default', scopes: new Set(SCOPES), keyId: 'anonymous' };

const contexts = new WeakMap<ApiKey, AuthContext>();

/** request.auth for a valid key (one context object per key, made once), or 403 without the scope needed. */
function authorize(request: FastifyRequest, key: ApiKey, needed: Scope | undefined): void {
  let context = contexts.get(key);
  if (!context) contexts.set(key, (context = { tenant: key.tenant, scopes: key.scopes, keyId: key.sha256.slice(0, 12) }));
  request.auth = context;
  if (needed && !key.scopes.has(needed)) {
    throw new AppError('forbidden', `This operation needs the scope "${needed}"`);
  }
}

/** Digests decoded once per key list (not per request). */
const digests = new WeakMap<readonly ApiKey[], Buffer[]>();

export function findKey(keys: readonly ApiKey[], presented: string): ApiKey | undefined {
  let known = digests.get(keys);
  if (!known) digests.set(keys, (known = keys.map((k) => Buffer.from(k.sha256, 'hex'))));
  const digest = createHash('sha256').update(presented).digest();
  let found: ApiKey | undefined;
  for (let i = 0; i < keys.length; i++) {
    // Compare every entry so the time taken does not depend on which one matched.
    if (timingSafeEqual(digest, known[i] as Buffer)) found = keys[i];
  }
  return found;
}

/**
 * The last Authorization header that passed on a keep-alive socket, with its key: the next request on the
 * socket with the same header skips the SHA-256 (a few µs, a visible share of a cache hit). The compare is
 * constant-time too, since a proxy may multiplex several clients over one upstream socket.
 */
interface SocketAuth {
  header: string;
  key: ApiKey;
}
const socketAuth = new WeakMap<object, SocketAuth>();

/**
 * Equal strings, in a time that depends only on the length (which the header's own length reveals anyway).
 * crypto.timingSafeEqual needs Buffers: encoding the header into one on every request cost more than this loop.
 */
export function sameInConstantTime(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function fromSocketCache(socket: object, header: string): ApiKey | undefined {
  const cached = socketAuth.get(socket);
  return cached !== undefined && sameInConstantTime(header, cached.header) ? cached.key : undefined;
}

export default fp(
  async (app) => {
    const { apiKeys, publicOps } = app.config;
    app.decorateRequest('auth', null as unknown as AuthContext);
    /** Sets request.auth, or throws the 401/403 problem. Synchronous: an async hook costs every request a promise. */
    const authenticate = (request: FastifyRequest): void => {
      // routeOptions is a getter that builds an object: read it once.
      const { config: routeConfig, url } = request.routeOptions;
      // Unknown routes fall through to the 404 problem; public operations may need no key.
      const isPublic = routeConfig.public === true || url?.startsWith('/docs') === true;
      if (!url || (isPublic && publicOps)) {
        request.auth = DEV_AUTH;
        return;
      }
      if (!apiKeys) {
        request.auth = DEV_AUTH;
        return;
      }
      const needed: Scope | undefined = isPublic ? 'admin' : routeConfig.scope;
      const header = request.headers.authorization;
      const socket = request.raw.socket;
      const known = header !== undefined && socket ? fromSocketCache(socket, header) : undefined;
      if (known) return authorize(request, known, needed);
      let presented: string | undefined;
      if (header?.startsWith('Bearer ')) presented = header.slice(7).trim();
      else if (header?.startsWith('Basic ')) {
        // Browsers (the dashboard, Swagger UI): the API key as the Basic password, any user name.
        const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
        presented = decoded.slice(decoded.indexOf(':') + 1);
      }
      if (!presented) {
        throw new AppError('unauthorized', 'Send "Authorization: Bearer <api-key>"', {
          headers: { 'www-authenticate': 'Bearer realm="baton"' },
        });
      }
      const key = findKey(apiKeys, presented);
      if (!key) {
        throw new AppError('unauthorized', 'The API key is not valid', { headers: { 'www-authenticate': 'Bearer realm="baton", error="invalid_token"' } });
      }
      if (socket && header !== undefined) socketAuth.set(socket, { header, key });
      return authorize(request, key, needed);
    };
    app.addHook('onRequest', (request, _reply, done) => {
      try {
        authenticate(request);
      } catch (err) {
        done(err as Error);
        return;
      }
      done();
    });
  },
  { name: 'auth', dependencies: ['config', 'errors'] },
);
