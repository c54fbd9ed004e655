// One command class for every Lua script in the process, instead of ioredis' one class per script.
//
// ioredis 6 (Script.js) gives each defineCommand'd script a class of its own, `class extends Command`, to
// send EVAL the first time on a connection and EVALSHA after. Objects built by different classes have
// different hidden classes in V8, so with Baton's dozens of scripts (and BullMQ's) every inline cache in
// ioredis' command path — the Command constructor, sendCommand, the reply handler, resolve — sees more than
// four shapes and turns megamorphic: the constructor alone took 4 % of the CPU of a single enqueue
// (profile, 2026-12-08). Here every script's commands are built by the one ScriptCommand class, which reads
// its script's source, SHA and per-connection state from the Script it is given.
//
// The behaviour is ioredis' own, line for line: EVAL the first time a connection sees the script, EVALSHA
// after; a NOSCRIPT reply (SCRIPT FLUSH, a restarted Redis) forgets the connection and resends the command,
// which then goes as EVAL. The patch replaces Script#execute for the whole process, and only after a probe
// finds ioredis' Script as this file expects it; otherwise ioredis is left as it is.
import { createRequire } from 'node:module';

interface CommandInstance {
  name: string;
  args: unknown[];
  promise: Promise<unknown>;
  reject: (err: Error) => void;
  toWritable(socket: object): string | Buffer;
}
type CommandClass = new (name: string, args: unknown[], options: object, callback?: unknown) => CommandInstance;

interface ScriptInstance {
  lua: string;
  sha: string;
  numberOfKeys: number | null;
  keyPrefix: string;
  readOnly: boolean;
  Command: CommandClass;
  /** The connections (sockets) this script was sent to as EVAL; set by the first execute. */
  loadedOn?: WeakSet<object>;
}
interface Container {
  isPipeline?: boolean;
  redis?: Container;
  sendCommand(command: CommandInstance): unknown;
}
type Execute = (this: ScriptInstance, container: Container, args: unknown[], options: Record<string, unknown>, callback?: unknown) => unknown;

const require = createRequire(import.meta.url);
const Command = (require('ioredis/built/Command.js') as { default: CommandClass }).default;
const Script = (require('ioredis/built/Script.js') as { default: { prototype: { execute: Execute } } & (new (lua: string, keys?: number | null) => ScriptInstance) }).default;
// ioredis' own helper for the optional node-style callback, from ioredis' dependencies.
const requireFromIoredis = createRequire(require.resolve('ioredis'));
const asCallback = (requireFromIoredis('standard-as-callback') as { default: (p: Promise<unknown>, cb?: unknown) => void }).default;

class ScriptCommand extends Command {
  // Assigned in the constructor only (`declare`: no class field, so no extra define of it first).
  declare script: ScriptInstance;

  constructor(name: string, args: unknown[], options: object, script: ScriptInstance) {
    super(name, args, options);
    this.script = script;
  }

  override toWritable(socket: object): string | Buffer {
    const { script } = this;
    const loadedOn = script.loadedOn as WeakSet<object>;
    const reject = this.reject;
    this.reject = (err: Error) => {
      if (err.message.indexOf('NOSCRIPT') !== -1) loadedOn.delete(socket);
      reject.call(this, err);
    };
    if (!loadedOn.has(socket)) {
      loadedOn.add(socket);
      this.name = 'eval';
      this.args[0] = script.lua;
    } else if (this.name === 'eval') {
      this.name = 'evalsha';
      this.args[0] = script.sha;
    }
    return super.toWritable(socket);
  }
}

const execute: Execute = function execute(this: ScriptInstance, container, args, options, callback) {
  if (typeof this.numberOfKeys === 'number') args.unshift(this.numberOfKeys);
  if (this.keyPrefix) options.keyPrefix = this.keyPrefix;
  if (this.readOnly) options.readOnly = true;
  if (this.loadedOn === undefined) this.loadedOn = new WeakSet();
  const evalsha = new ScriptCommand('evalsha', [this.sha, ...args], options, this);
  evalsha.promise = evalsha.promise.catch((err: Error) => {
    if (err.message.indexOf('NOSCRIPT') === -1) throw err;
    // Resend: it goes as EVAL, since the NOSCRIPT reply made the connection forget the script.
    const resend = new ScriptCommand('evalsha', [this.sha, ...args], options, this);
    const client = container.isPipeline ? (container.redis as Container) : container;
    return client.sendCommand(resend);
  });
  asCallback(evalsha.promise, callback);
  return container.sendCommand(evalsha);
};

/** Whether ioredis' Script is the one this file was written against: a class per script, built on Command. */
function scriptLooksAsExpected(): boolean {
  const probe = new Script('return 1', 0);
  return (
    typeof probe.Command === 'function' &&
    probe.Command.prototype instanceof Command &&
    typeof probe.sha === 'string' &&
    probe.lua === 'return 1' &&
    probe.numberOfKeys === 0 &&
    Script.prototype.execute.length === 4
  );
}

let installed: boolean | undefined;

/** Install the shared script command once per process, if ioredis' Script passes the probe. Returns whether it is in use. */
export function useSharedScriptCommand(): boolean {
  if (installed !== undefined) return installed;
  installed = scriptLooksAsExpected();
  if (installed) Script.prototype.execute = execute;
  return installed;
}

/** The class every script command is built by once installed (for the test). */
export { ScriptCommand };
