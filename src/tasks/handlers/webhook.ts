// Built-in handler `webhook` (type BATON_WEBHOOK_TASK_TYPE): POSTs `body` as JSON to `url`, with `headers`.
// Only hosts on BATON_WEBHOOK_ALLOWED_HOSTS (exact host names, case-insensitive) are allowed: others are a
// 400 at submit. Redirects are not followed (a 3xx is a failed attempt), so an allowed host cannot bounce
// the request elsewhere. A 2xx response body (JSON when it parses, else text) is the result; anything else,
// a network error or the BATON_WEBHOOK_TIMEOUT_MS timeout is a failed attempt, retried with the task's backoff.
import { z } from 'zod';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import type { TaskHandler } from './types.js';

export const WebhookPayload = z
  .object({
    url: z.string().url(),
    body: z.unknown().optional(),
    headers: z.record(z.string(), z.string()).optional(),
  })
  .strict();

const MAX_RESULT_CHARS = 256 * 1024;

export function webhookHandler(config: Config): TaskHandler {
  const allowed = new Set(config.tasks.webhookAllowedHosts.map((h) => h.toLowerCase()));
  const timeoutMs = config.tasks.webhookTimeoutMs;
  return {
    type: config.tasks.webhookType,
    validate(payload) {
      const parsed = WebhookPayload.safeParse(payload);
      if (!parsed.success) {
        const errors = parsed.error.issues.map((i) => ({ path: ['body', 'payload', ...i.path].join('/'), message: i.message }));
        throw new AppError('validation_failed', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
      }
      const url = new URL(parsed.data.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new AppError('validation_failed', 'payload.url must be http or https', { errors: [{ path: 'body/payload/url', message: 'must be http or https' }] });
      }
      const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
      if (!allowed.has(host)) {
        throw new AppError('validation_failed', `payload.url: host "${host}" is not on the webhook allow-list (BATON_WEBHOOK_ALLOWED_HOSTS)`, {
          errors: [{ path: 'body/payload/url', message: 'host not allowed' }],
        });
      }
    },
    async run({ payload, signal }) {
      const p = WebhookPayload.parse(payload);
      const res = await fetch(p.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(p.headers ?? {}) },
        body: JSON.stringify(p.body ?? {}),
        redirect: 'manual',
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      });
      const text = (await res.text()).slice(0, MAX_RESULT_CHARS);
      if (res.status < 200 || res.status >= 300) {
        throw new Error(`webhook answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
      }
      try {
        return text === '' ? null : JSON.parse(text);
      } catch {
        return text;
      }
    },
  };
}
