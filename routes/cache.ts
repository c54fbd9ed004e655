// Cache (/v1/cache): thin handlers over src/cache/service.ts. The body of a single-key PUT is stored as raw
// bytes with its Content-Type, so this plugin (encapsulated) replaces the content-type parsers: any type is
// read as a Buffer; JSON (the default) must be valid JSON. The GET hit path is benchmarked against a thin
// proxy, so its params/query/headers get a hand-written fast check (lib/fast-validation.ts); the zod schemas
// still document the route and produce the exact validation error whenever the fast check does not pass.
import { isUtf8 } from 'node:buffer';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorToProblem, sendProblem } from '../plugins/errors.js';
import { createCacheMetrics, createCacheService, isJsonType, type CacheEntry } from '../src/cache/service.js';
import { AppError, toProblem } from '../src/errors.js';
import { isName, nameSchema, NOT_PRINTABLE, ProblemSchema, problems, queryBool } from '../src/schemas/common.js';
import { clientGone } from './lib/client-gone.js';
import { fast } from './lib/fast-validation.js';
import { noContent } from './lib/no-content.js';

const MAX_TTL_MS = 10 * 365 * 24 * 3_600_000;
const MAX_CONTENT_TYPE = 255;
const MAX_BULK = 100;
const EMPTY = Buffer.alloc(0);

/** If-None-Match (weak comparison, RFC 9110 13.1.2) against a strong, quoted ETag. */
export function etagMatches(header: string, etag: string): boolean {
  if (header === etag) return true;
  const trimmed = header.trim();
  if (trimmed === '*') return true;
  for (const part of trimmed.split(',')) {
    const tag = part.trim();
    if (tag === etag || (tag.startsWith('W/') && tag.slice(2) === etag)) return true;
  }
  return false;
}

function isEmptyObject(o: unknown): boolean {
  for (const _ in o as object) return false;
  return true;
}

const cacheRoutes: FastifyPluginAsyncZod = async (app) => {
  const { limits, cache: cacheConfig } = app.config;
  const { nameBytes, valueBytes, bodyBytes } = limits;
  const cache = createCacheService({
    redis: app.redis,
    keys: app.keys,
    notifier: app.notifier,
    config: app.config,
    metrics: createCacheMetrics(app.metrics.registry),
  });

  // ---- validation: zod documents and reports; a fast check lets the common valid case through -------------
  // The shared name check (src/schemas/common.ts), with the cache's own description.
  const keySchema = nameSchema(nameBytes, 'key')
    .describe(`The cache key: 1-${nameBytes} bytes of printable UTF-8, URL-encoded in the path (may contain / : * spaces and non-ASCII)`)
    .meta({ example: 'user:42' });
  const KeyParams = fast(z.object({ key: keySchema }), (d) => isName((d as { key?: unknown }).key, nameBytes));
  const WildParams = fast(z.object({ '*': keySchema }), (d) => isName((d as Record<string, unknown>)['*'], nameBytes));

  // Query numbers: coerced from the string, but an empty value is not 0.
  const queryNumber = <T extends z.ZodType>(inner: T) => z.preprocess((v) => (v === '' ? Number.NaN : v), inner);
  const ttlNumber = z.number().int().min(0).max(MAX_TTL_MS);
  const ttlMs = ttlNumber
    .describe(`Time to live in ms (0 = no expiry; default ${cacheConfig.defaultTtlMs}${cacheConfig.defaultTtlMs === 0 ? ' = no expiry' : ''})`)
    .meta({ example: 60_000 });
  const jitter = z.number().min(0).max(1)
    .describe('Spread the TTL uniformly by ±this fraction (0-1), so keys written together do not expire together')
    .meta({ example: 0.1 });

  const GetQuery = fast(
    z.object({
      lease: queryBool.optional().describe('On a miss, take the key\'s lease (memcache leases): exactly one caller gets 404 with `Cache-Lease`'),
      waitMs: queryNumber(z.coerce.number().int().min(0).max(cacheConfig.maxWaitMs)).optional()
        .describe(`With lease=true: wait up to this long (0-${cacheConfig.maxWaitMs} ms) for another caller's fill`)
        .meta({ example: 2_000 }),
    }),
    isEmptyObject,
  );
  const GetHeaders = fast(
    z.looseObject({
      'if-none-match': z.string().optional().describe('ETag(s) the client has: 304 when one matches').meta({ example: '"q1w2e3r4t5y6u7i8o9p0aA"' }),
    }),
    () => true,
  );
  const PutQuery = fast(
    z.object({
      ttlMs: queryNumber(z.coerce.number().pipe(ttlMs)).optional(),
      jitter: queryNumber(z.coerce.number().pipe(jitter)).optional(),
      nx: queryBool.optional().describe('Store only if the key is absent (else 412 precondition_failed)'),
      xx: queryBool.optional().describe('Store only if the key is present (else 412 precondition_failed)'),
    }),
    isEmptyObject,
  );
  const PutHeaders = fast(
    z.looseObject({
      'content-type': z.string().max(MAX_CONTENT_TYPE, `content-type exceeds ${MAX_CONTENT_TYPE} characters`).optional()
        .describe('Stored with the value and returned by GET (default application/json, which must then be valid JSON)')
        .meta({ example: 'application/json' }),
      'cache-lease': z.string().min(1).max(128).optional()
        .describe('Fill under this lease token (from a GET ?lease=true miss): 409 lease_invalid unless it is still the current lease')
        .meta({ example: '6f1c9a52-3b8e-4f7a-9d2c-1e5b7a9c0d4f' }),
    }),
    (d) => {
      const h = d as Record<string, string | undefined>;
      const ct = h['content-type'];
      return h['cache-lease'] === undefined && (ct === undefined || ct.length <= MAX_CONTENT_TYPE);
    },
  );
  const ValueBody = fast(
    z.any().describe(`The value, any bytes up to ${valueBytes} (413 beyond), with its Content-Type`)
      .meta({ example: { name: 'Ada', plan: 'pro' } }),
    () => true,
  );

  const entryHeaders = {
    'cache-status': { type: 'string', description: '`hit`' },
    etag: { type: 'string', description: 'Strong ETag of the stored bytes' },
    'x-ttl-ms': { type: 'integer', description: 'Remaining time to live in ms; absent = no expiry' },
  };
  const EntryResponse = z.any().meta({
    description: 'The stored bytes, with the Content-Type they were stored with',
    headers: entryHeaders,
    content: { '*/*': { schema: { description: 'The stored bytes as they were PUT' }, example: { name: 'Ada', plan: 'pro' } } },
  });
  const NotModified = z.null().meta({ description: 'Not modified: If-None-Match matched the ETag', headers: entryHeaders });
  const NoContent = z.null().describe('Done (no body)');
  const MissProblem = ProblemSchema.describe(
    'Miss (not_found). With lease=true: the caller that took the lease gets the header `Cache-Lease: <token>` and must fill the key ' +
    '(PUT with that header); the others got none (the wait ran out).',
  );

  const tags = ['cache'];
  const read = { scope: 'cache:read' as const };
  const write = { scope: 'cache:write' as const };

  // ---- bodies: any content type as bytes ----------------------------------------------------------------------
  app.removeAllContentTypeParsers();
  // Bodies arrive as bytes; JSON is checked in the handler (PUT) or a preValidation hook (POST), not here: an
  // error thrown by a content-type parser makes Fastify close the keep-alive connection.
  const asBytes = (_request: FastifyRequest, body: Buffer, done: (err: null, body: Buffer) => void) => done(null, body);
  // The common types by name as well: Fastify caches the parser it finds by name, while a type that only the
  // catch-all matches is looked up (its header parsed) again on every request.
  app.addContentTypeParser(['application/json', 'text/plain', 'application/octet-stream'], { parseAs: 'buffer' }, asBytes);
  app.addContentTypeParser('*', { parseAs: 'buffer' }, asBytes);
  /** A 400 unless the bytes are UTF-8 JSON. */
  function checkJson(buf: Buffer): void {
    if (!isUtf8(buf)) throw invalidJson(new Error('not UTF-8'));
    try {
      JSON.parse(buf.toString('utf8'));
    } catch (err) {
      throw invalidJson(err);
    }
  }
  function invalidJson(err: unknown) {
    const message = `the body is not valid JSON (${(err as Error).message}); send another Content-Type for other data`;
    return new AppError('validation_failed', message, { errors: [{ path: 'body', message }] });
  }

  app.setErrorHandler((err: FastifyError, request, reply) => {
    let e: unknown = err;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const limit = request.routeOptions.bodyLimit ?? valueBytes;
      e = new AppError('payload_too_large', `The body exceeds the limit of ${limit} bytes`, { fields: { limit } });
    }
    const { problem, headers } = errorToProblem(e, request);
    return sendProblem(reply, problem, headers);
  });

  // ---- single key ---------------------------------------------------------------------------------------------
  function sendEntry(request: FastifyRequest, reply: FastifyReply, entry: CacheEntry) {
    reply.header('cache-status', 'hit');
    reply.header('etag', entry.etag);
    if (entry.ttlMs !== undefined) reply.header('x-ttl-ms', String(entry.ttlMs));
    const inm = request.headers['if-none-match'];
    if (inm !== undefined && etagMatches(inm, entry.etag)) return reply.code(304).send();
    return reply.type(entry.contentType).send(entry.body);
  }

  function sendMiss(request: FastifyRequest, reply: FastifyReply, detail: string) {
    reply.header('cache-status', 'miss');
    return sendProblem(reply, toProblem('not_found', detail, { instance: request.url.split('?')[0] }));
  }

  type GetQueryT = z.output<typeof GetQuery>;
  async function getOne(request: FastifyRequest, reply: FastifyReply, key: string, query: GetQueryT) {
    const tenant = request.auth.tenant;
    if (query.lease !== true) {
      const entry = await cache.get(tenant, key);
      return entry === null ? sendMiss(request, reply, `No cache entry "${key}"`) : sendEntry(request, reply, entry);
    }
    const waitMs = query.waitMs ?? 0;
    const result = await cache.getWithLease(tenant, key, waitMs, waitMs > 0 ? clientGone(reply) : undefined);
    switch (result.kind) {
      case 'hit':
        return sendEntry(request, reply, result.entry);
      case 'lease':
        reply.header('cache-lease', result.token);
        return sendMiss(request, reply, `No cache entry "${key}"; you hold its lease: compute the value and PUT it with the Cache-Lease header`);
      default:
        return sendMiss(request, reply, `No cache entry "${key}"; another caller holds its lease${waitMs > 0 ? ` and did not fill it within ${waitMs} ms` : ''}`);
    }
  }

  type PutQueryT = z.output<typeof PutQuery>;
  async function putOne(request: FastifyRequest, reply: FastifyReply, key: string, query: PutQueryT) {
    const body = (request.body as Buffer | undefined) ?? EMPTY;
    const contentType = request.headers['content-type'] ?? 'application/json';
    if (contentType === 'application/json' || isJsonType(contentType)) checkJson(body);
    await cache.set(request.auth.tenant, key, body, contentType, {
      ttlMs: query.ttlMs,
      jitter: query.jitter,
      nx: query.nx,
      xx: query.xx,
      lease: request.headers['cache-lease'] as string | undefined,
    });
    return noContent(reply);
  }

  const getSchema = {
    tags,
    summary: 'Read a value',
    description:
      'Returns the stored bytes with their Content-Type, `Cache-Status: hit`, a strong `ETag` and `X-TTL-Ms` (remaining TTL, ' +
      'absent when the key has no expiry). `If-None-Match` with the ETag gives 304. A miss is a 404 problem.\n\n' +
      '**Leases** (stampede protection, `lease=true`): on a miss exactly one caller gets 404 with `Cache-Lease: <token>` and ' +
      'is expected to compute the value and `PUT` it with that header. Other callers with `waitMs` wait (woken over Redis ' +
      'pub/sub, across Baton instances, never by polling) and get the filled value (200), or 404 without a lease when the ' +
      'wait runs out. When the lease expires unfilled, the next reader gets a new lease.',
    params: KeyParams,
    querystring: GetQuery,
    headers: GetHeaders,
    response: { 200: EntryResponse, 304: NotModified, ...problems(), 404: MissProblem },
  };
  const headSchema = {
    ...getSchema,
    summary: 'Does a value exist? (same headers as GET, no body)',
    description: 'Same status and headers as GET (`Cache-Status`, `ETag`, `X-TTL-Ms`, `Content-Type`, `Content-Length`), without the body.',
  };
  const putSchema = {
    tags,
    summary: 'Store a value',
    description:
      'Stores the body as is, byte for byte, with its Content-Type (default `application/json`, which must be valid JSON). ' +
      '`ttlMs` (default from BATON_CACHE_DEFAULT_TTL_MS; 0 = no expiry), `jitter` spreads it by ±fraction. `nx` / `xx`: only ' +
      'if absent / present, else 412 `precondition_failed`. With `Cache-Lease` the PUT fills under that lease and gets 409 ' +
      '`lease_invalid` (writing nothing) when the key was deleted, overwritten or re-leased since, or the lease expired. ' +
      'A PUT without a lease invalidates any outstanding lease (a slower filler cannot overwrite it) and wakes the waiters.',
    params: KeyParams,
    querystring: PutQuery,
    headers: PutHeaders,
    body: ValueBody,
    consumes: ['application/json', 'text/plain', 'application/octet-stream', '*/*'],
    response: { 204: NoContent, ...problems(409, 412, 413) },
  };
  const deleteSchema = {
    tags,
    summary: 'Delete a value',
    description: '204 whether or not it existed. Also removes the key\'s lease, so a slow filler\'s PUT under it is refused.',
    params: KeyParams,
    response: { 204: NoContent, ...problems() },
  };
  const hidden = { hide: true, params: WildParams };

  app.get('/v1/cache/:key', { config: read, exposeHeadRoute: false, schema: getSchema }, (request, reply) =>
    getOne(request, reply, request.params.key, request.query));
  app.head('/v1/cache/:key', { config: { ...read, swagger: { exposeHeadRoute: true } }, schema: headSchema }, (request, reply) =>
    getOne(request, reply, request.params.key, request.query));
  app.put('/v1/cache/:key', { config: write, bodyLimit: valueBytes, schema: putSchema }, (request, reply) =>
    putOne(request, reply, request.params.key, request.query));
  app.delete('/v1/cache/:key', { config: write, schema: deleteSchema }, async (request, reply) => {
    await cache.delete(request.auth.tenant, request.params.key);
    return noContent(reply);
  });

  // The same routes for clients that send a "/" in the key unencoded (undocumented; the encoded form is canonical).
  app.get('/v1/cache/*', { config: read, exposeHeadRoute: false, schema: { ...getSchema, ...hidden } }, (request, reply) =>
    getOne(request, reply, request.params['*'], request.query));
  app.head('/v1/cache/*', { config: read, schema: { ...headSchema, ...hidden } }, (request, reply) =>
    getOne(request, reply, request.params['*'], request.query));
  app.put('/v1/cache/*', { config: write, bodyLimit: valueBytes, schema: { ...putSchema, ...hidden } }, (request, reply) =>
    putOne(request, reply, request.params['*'], request.query));
  app.delete('/v1/cache/*', { config: write, schema: { ...deleteSchema, ...hidden } }, async (request, reply) => {
    await cache.delete(request.auth.tenant, request.params['*']);
    return noContent(reply);
  });

  // ---- bulk ---------------------------------------------------------------------------------------------------
  const keyList = z.preprocess(
    (v) => (typeof v === 'string' ? [v] : v),
    z.array(keySchema).min(1, 'give at least one key').max(MAX_BULK, `at most ${MAX_BULK} keys per request`),
  ).describe(`Keys to read (repeat the parameter; 1-${MAX_BULK})`).meta({ example: ['user:42', 'user:43'] });

  const EntryValue = z.union([
    z.object({ contentType: z.string(), base64: z.string() }).describe('An entry stored with a non-JSON content type'),
    z.unknown().describe('The stored JSON value'),
  ]).nullable();

  app.get('/v1/cache', {
    config: read,
    schema: {
      tags,
      summary: 'Read many values',
      description:
        `Up to ${MAX_BULK} keys in one round trip per Redis slot. A missing key is \`null\`; a JSON entry comes as its value; ` +
        'an entry stored with another content type as `{ "contentType", "base64" }`. TTLs and ETags are not included.',
      querystring: z.object({ key: keyList }),
      response: {
        200: z.object({ entries: z.record(z.string(), EntryValue) }).meta({
          description: 'Every requested key: its JSON value, `{ contentType, base64 }`, or null when missing',
          example: { entries: { 'user:42': { name: 'Ada' }, 'user:43': null, 'avatar:42': { contentType: 'image/png', base64: 'iVBORw0KGgo=' } } },
        }),
        ...problems(),
      },
    },
  }, async (request, reply) => {
    const list = [...new Set(request.query.key)];
    const found = await cache.getMany(request.auth.tenant, list);
    // Built by hand: JSON entries are spliced in as stored (they were validated as JSON when written).
    let out = '{"entries":{';
    for (let i = 0; i < list.length; i++) {
      const e = found[i];
      if (i > 0) out += ',';
      out += JSON.stringify(list[i]);
      out += ':';
      if (!e) out += 'null';
      else if (isJsonType(e.contentType)) out += e.body.toString('utf8');
      else out += JSON.stringify({ contentType: e.contentType, base64: e.body.toString('base64') });
    }
    out += '}}';
    return reply.type('application/json; charset=utf-8').send(out as never);
  });

  app.post('/v1/cache', {
    config: write,
    bodyLimit: bodyBytes,
    preValidation: async (request) => {
      const ct = request.headers['content-type'];
      if (ct !== undefined && !isJsonType(ct)) throw new AppError('unsupported_media_type', 'POST /v1/cache takes application/json');
      const raw = request.body;
      if (Buffer.isBuffer(raw)) {
        if (!isUtf8(raw)) throw invalidJson(new Error('not UTF-8'));
        try {
          request.body = JSON.parse(raw.toString('utf8')) as typeof request.body;
        } catch (err) {
          throw invalidJson(err);
        }
      }
    },
    schema: {
      tags,
      summary: 'Store many values',
      description:
        `Up to ${MAX_BULK} entries in one pipelined round trip (one per slot on Redis Cluster). Each \`value\` is any JSON and is ` +
        'stored as application/json. An entry\'s `ttlMs` beats the request\'s `ttlMs`, which beats the default; `jitter` ' +
        'applies to all. Like a single PUT, each write invalidates an outstanding lease on its key.',
      body: z.object({
        entries: z.array(
          z.object({
            key: keySchema,
            value: z.unknown().refine((v) => v !== undefined, 'value is required').describe('Any JSON value'),
            ttlMs: ttlMs.optional(),
          }).strict(),
        ).max(MAX_BULK, `at most ${MAX_BULK} entries per request`),
        ttlMs: ttlMs.optional(),
        jitter: jitter.optional(),
      }).strict().meta({
        example: { entries: [{ key: 'user:42', value: { name: 'Ada' } }, { key: 'user:43', value: { name: 'Grace' }, ttlMs: 5_000 }], ttlMs: 60_000, jitter: 0.1 },
      }),
      response: { 204: NoContent, ...problems(413) },
    },
  }, async (request, reply) => {
    const { entries, ttlMs: ttl, jitter: j } = request.body;
    const prepared = entries.map((e, i) => {
      const body = Buffer.from(JSON.stringify(e.value));
      if (body.length > valueBytes) {
        throw new AppError('payload_too_large', `entries/${i}/value exceeds the limit of ${valueBytes} bytes`, { fields: { limit: valueBytes } });
      }
      return { key: e.key, body, contentType: 'application/json', ttlMs: e.ttlMs };
    });
    await cache.setMany(request.auth.tenant, prepared, { ttlMs: ttl, jitter: j });
    return noContent(reply);
  });

  app.delete('/v1/cache', {
    config: write,
    schema: {
      tags,
      summary: 'Delete by glob pattern',
      description:
        'Deletes every key of your tenant matching the Redis glob (`*`, `?`, `[a-z]`, `\\` escapes), with SCAN (bounded COUNT) ' +
        'and UNLINK per batch on every master, so Redis never stalls. Confined to your tenant whatever the pattern. Returns ' +
        'the exact number of values this call removed. Leases of matching keys are removed too.',
      querystring: z.object({
        pattern: z.string().min(1, 'pattern must not be empty').max(nameBytes, `pattern exceeds ${nameBytes} characters`)
          .refine((s) => !NOT_PRINTABLE.test(s), 'pattern must be printable UTF-8')
          .describe('Redis glob over your keys').meta({ example: 'user:*' }),
      }),
      response: { 200: z.object({ deleted: z.number().int() }).meta({ description: 'How many values this call removed', example: { deleted: 1204 } }), ...problems() },
    },
  }, async (request) => ({ deleted: await cache.deletePattern(request.auth.tenant, request.query.pattern) }));
};

export default cacheRoutes;
