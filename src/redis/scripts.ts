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
}

export interface Script<K extends readonly string[], A extends readonly string[], R> {
  readonly definition: ScriptDefinition<K, A>;
  readonly source: string;
  run(client: RedisClient, keys: { [I in keyof K]: string }, args: { [I in keyof A]: Arg }): Promise<R>;
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
  const script: Script<K, A, R> = {
    definition,
    source,
    async run(client, keys, args) {
      let names = definedOn.get(client);
      if (!names) definedOn.set(client, (names = new Set()));
      if (!names.has(definition.name)) {
        client.defineCommand(definition.name, { numberOfKeys: definition.keys.length, lua: source });
        names.add(definition.name);
      }
      const fn = (client as unknown as Callable)[definition.name] as (...a: Arg[]) => Promise<unknown>;
      return (await fn.call(client, ...(keys as readonly string[]), ...(args as readonly Arg[]))) as R;
    },
  };
  registry.push(script as Script<readonly string[], readonly string[], unknown>);
  return script;
}

/** Every script defined so far (the header test walks these). */
export function definedScripts(): readonly Script<readonly string[], readonly string[], unknown>[] {
  return registry;
}
