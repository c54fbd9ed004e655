// pino with secrets redacted: the Authorization header, lock tokens, receipts, lease tokens and worker tokens.
import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export const REDACT = [
  'req.headers.authorization',
  'req.headers["cache-lease"]',
  'token',
  'receipt',
  'receipts',
  '*.token',
  '*.receipt',
  '*.receipts',
];

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, redact: { paths: REDACT, censor: '[redacted]' } });
}
