// Every error leaves as an RFC 9457 problem document (application/problem+json): AppErrors with their
// catalogue code, zod validation failures as 400 validation_failed with errors[], Fastify's own 4xx
// (bad JSON, body too large, wrong media type) with a code, Redis outages as 503 + Retry-After, and
// anything unknown as a generic 500 whose stack goes only to the log, with the request id.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError, isRedisUnavailable, toProblem, type ErrorCode, type FieldError, type Problem } from '../src/errors.js';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_INVALID_JSON_BODY: 'validation_failed',
  FST_ERR_VALIDATION: 'validation_failed',
  FST_ERR_RATE_LIMIT: 'rate_limited',
};

export function sendProblem(reply: FastifyReply, problem: Problem, headers: Record<string, string> = {}) {
  return reply
    .code(problem.status)
    .headers(headers)
    .type('application/problem+json; charset=utf-8')
    .send(JSON.stringify(problem));
}

function zodFieldErrors(err: FastifyError): FieldError[] {
  const context = (err as FastifyError & { validationContext?: string }).validationContext ?? 'body';
  return (err.validation ?? []).map((v) => {
    const issue = v as unknown as { instancePath?: string; message?: string; params?: { issue?: { path?: unknown[] } } };
    const path = issue.instancePath ? issue.instancePath.replace(/^\//, '') : (issue.params?.issue?.path ?? []).join('/');
    return { path: path ? `${context}/${path}` : context, message: issue.message ?? 'invalid' };
  });
}

export function errorToProblem(err: unknown, request: FastifyRequest): { problem: Problem; headers: Record<string, string> } {
  const instance = request.url.split('?')[0];
  if (err instanceof AppError) {
    return {
      problem: toProblem(err.code, err.detail, { instance, ...(err.extra.errors ? { errors: err.extra.errors } : {}), ...err.extra.fields }),
      headers: err.extra.headers ?? {},
    };
  }
  if (isRedisUnavailable(err)) {
    request.log.warn({ err: (err as Error).message }, 'redis unavailable');
    return { problem: toProblem('backend_unavailable', 'Redis is unreachable; retry shortly', { instance }), headers: { 'retry-after': '1' } };
  }
  const fe = err as FastifyError;
  if (hasZodFastifySchemaValidationErrors(fe) || fe.validation) {
    const errors = zodFieldErrors(fe);
    return {
      problem: toProblem('validation_failed', errors.map((e) => `${e.path}: ${e.message}`).join('; ') || fe.message, { instance, errors }),
      headers: {},
    };
  }
  const status = fe.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = (fe.code && FASTIFY_CODES[fe.code]) || (status === 404 ? 'not_found' : 'bad_request');
    const problem = toProblem(code, fe.message, { instance, status });
    if (code === 'validation_failed') problem.errors = [{ path: 'body', message: fe.message }];
    return { problem, headers: {} };
  }
  request.log.error({ err }, 'unhandled error');
  return { problem: toProblem('internal_error', `An internal error occurred (request ${request.id})`, { instance }), headers: {} };
}

export default fp(
  async (app) => {
    app.setErrorHandler((err, request, reply) => {
      const { problem, headers } = errorToProblem(err, request);
      return sendProblem(reply, problem, headers);
    });
    app.setNotFoundHandler((request, reply) =>
      sendProblem(reply, toProblem('not_found', `No route ${request.method} ${request.url.split('?')[0]}`, { instance: request.url.split('?')[0] })),
    );
  },
  { name: 'errors' },
);
