// A request's child logger, created only when the request logs something. Fastify makes a child logger per
// request (to bind reqId); pino builds it eagerly (bindings serialised, redaction set up), which is a
// measurable share of a cache hit's CPU while most requests at the usual levels never log at all.
import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';

type LogFn = (...args: unknown[]) => void;

class LazyChildLogger {
  #child: Logger | undefined;
  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get level(): string {
    return this.#child?.level ?? this.parent.level;
  }
  set level(level: string) {
    this.real().level = level;
  }
  private real(): Logger {
    return (this.#child ??= this.parent.child(this.bindings, this.options));
  }
  private log(level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace', args: unknown[]) {
    if (this.#child === undefined && !this.parent.isLevelEnabled(level)) return;
    (this.real()[level] as LogFn)(...args);
  }
  fatal(...args: unknown[]) { this.log('fatal', args); }
  error(...args: unknown[]) { this.log('error', args); }
  warn(...args: unknown[]) { this.log('warn', args); }
  info(...args: unknown[]) { this.log('info', args); }
  debug(...args: unknown[]) { this.log('debug', args); }
  trace(...args: unknown[]) { this.log('trace', args); }
  silent() {}
  isLevelEnabled(level: string): boolean {
    return (this.#child ?? this.parent).isLevelEnabled(level);
  }
  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.real().child(bindings, options);
  }
}

/** Fastify's `childLoggerFactory`: the same child as the default, built on first use. */
export function lazyChildLogger(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  // A route with its own logLevel gets its child at once: the laziness judges levels by the parent's.
  if (options.level !== undefined) return parent.child(bindings, options);
  // The parent is always the pino logger of createLogger() or the one a test passes.
  return new LazyChildLogger(parent as unknown as Logger, bindings, options) as unknown as FastifyBaseLogger;
}
