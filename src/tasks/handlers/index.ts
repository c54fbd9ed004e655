// The registry of built-in handlers: one line per handler. Task types served here run in-process (BullMQ
// Workers, BATON_ROLE all/worker); every other type is served to HTTP workers (POST /v1/workers/{type}/claim).
import type { Config } from '../../config.js';
import { echoHandler } from './echo.js';
import type { HandlerFactory, TaskHandler } from './types.js';
import { webhookHandler } from './webhook.js';

const FACTORIES: HandlerFactory[] = [webhookHandler, echoHandler];

export function builtInHandlers(config: Config): Map<string, TaskHandler> {
  return new Map(FACTORIES.map((f) => f(config)).map((h) => [h.type, h]));
}

export type { HandlerContext, TaskHandler } from './types.js';
