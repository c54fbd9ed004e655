// A typed wrapper over ioredis defineCommand: each Lua file is read once, registered once per client
// (ioredis then uses EVALSHA and falls back to EVAL after a SCRIPT FLUSH or a Redis restart), and called
// with typed KEYS and ARGV. Every script file starts with a header naming its KEYS and ARGV in order;
// test/redis/scripts.test.ts checks each header against the definition below it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from './connection.js';

type Arg = string | number | Buffer;

export interface ScriptDefinition<K extends readonly string[], A extends readonly string[]> {
  /** Command name on the client; unique across Baton. */
  name: string;
  /** The Lua file, e.g. new URL('./lua/acquire.lua', import.meta.url). tsc does not copy .lua: the build does. */
  file: URL;
  /** KEYS names in order, as the header lists them. */
  keys: K;
  /** ARGV names in order, as the header lists them. */
  args: A;
  /**
   * The KEYS and ARGV repeat as groups, one per item: KEYS[i] and ARGV[(i-1)*#args+1 …], so one call handles a
   * batch (runMany). The header lists one group.
   */
  repeated?: boolean;
}

export interface Script<K extends readonly string[], A extends readonly string[], R> {
  readonly definition: ScriptDefinition<K, A>;
  readonly source: string;
  run(client: RedisClient, keys: { [I in keyof K]: string }, args: { [I in keyof A]: Arg }): Promise<R>;
  /** A script defined with `repeated`: every group's keys, then every group's args, in the same order. */
  runMany(client: RedisClient, keys: readonly string[], args: readonly Arg[]): Promise<R>;
}

const registry: Script<readonly string[], readonly string[], unknown>[] = [];
const definedOn = new WeakMap<RedisClient, Set<string>>();

type Callable = Record<string, (...args: Arg[]) => Promise<unknown>>;

export function defineScript<R, const K extends readonly string[] = readonly string[], const A extends readonly string[] = readonly string[]>(
  definition: ScriptDefinition<K, A>,
): Script<K, A, R> {
  const source = readFileSync(fileURLToPath(definition.file), 'utf8');
  if (registry.some((s) => s.definition.name === definition.name)) {
    throw new Error(`script ${definition.name} defined twice`);
  }
  // The client used last and its command: nearly every call uses the one command connection.
  let lastClient: RedisClient | undefined;
  let lastCommand: ((...a: Arg[]) => Promise<unknown>) | undefined;
  const command = (client: RedisClient) => {
    if (client === lastClient) return lastCommand as (...a: Arg[]) => Promise<unknown>;
    let names = definedOn.get(client);
    if (!names) definedOn.set(client, (names = new Set()));
    if (!names.has(definition.name)) {
      // A repeated script takes its number of keys as the first argument (ioredis: numberOfKeys left out).
      client.defineCommand(definition.name, { numberOfKeys: definition.repeated ? undefined : definition.keys.length, lua: source });
      names.add(definition.name);
    }
    lastClient = client;
    lastCommand = (client as unknown as Callable)[definition.name] as (...a: Arg[]) => Promise<unknown>;
    return lastCommand;
  };
  // Not async, and one array for the call's arguments: these run on every hot-path request, where an async
  // wrapper costs a promise and a microtask turn of its own.
  const call = (client: RedisClient, args: Arg[]): Promise<R> => {
    try {
      return command(client).apply(client, args) as Promise<R>;
    } catch (err) {
      return Promise.reject(err);
    }
  };
  const script: Script<K, A, R> = {
    definition,
    source,
    run(client, keys, args) {
      if (definition.repeated) return script.runMany(client, keys as readonly string[], args as readonly Arg[]);
      return call(client, (keys as readonly Arg[]).concat(args as readonly Arg[]));
    },
    runMany(client, keys, args) {
      if (!definition.repeated) return Promise.reject(new Error(`script ${definition.name} is not defined as repeated`));
      return call(client, [keys.length, ...keys, ...args] as Arg[]);
    },
  };
  registry.push(script as Script<readonly string[], readonly string[], unknown>);
  return script;
}

/** Every script defined so far (the header test walks these). */
export function definedScripts(): readonly Script<readonly string[], readonly string[], unknown>[] {
  return registry;
}
