// Keeps one of process.nextTick's TickObjects alive for the life of the process, so that the hidden classes
// (maps) of every TickObject stay alive too, and V8's inline caches in nextTick stay monomorphic.
//
// Why: nextTick builds each TickObject from an object literal with computed (symbol) keys. V8 keeps the
// transitions to that literal's maps weakly, and TickObjects live for one turn of the event loop, so a full
// GC at a moment when none is alive collects the maps; the next nextTick builds a fresh chain of maps, and
// the literal's inline caches, having seen the old maps and the new ones, turn megamorphic for good. Every
// later TickObject is then built through V8's runtime (DefineKeyedOwnPropertyInLiteral, map migration).
// Node's streams and HTTP server call nextTick about six times per request, so this cost 3-5 µs of CPU per
// request, 7-10 % of a cache hit, on two of every three Baton processes, decided by when full GCs fell
// during startup (measured with perf on 2026-12-06; README: Benchmark, session 13). With one TickObject
// pinned, its map chain (each map holds its parent strongly) can never be collected.
//
// Import it first in the process entry, before anything calls nextTick much. Nothing here depends on it for
// correctness: if a later Node builds TickObjects differently, this holds one small object and nothing else.
import { executionAsyncResource } from 'node:async_hooks';

let pinned: object | undefined;
// Inside a nextTick callback, the current async resource is that tick's TickObject.
process.nextTick(() => {
  pinned = executionAsyncResource();
});

/** The pinned TickObject, once the first tick has run (for the test). */
export function pinnedTickObject(): object | undefined {
  return pinned;
}
