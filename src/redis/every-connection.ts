// A client's connections: a Redis client is one; a Cluster client has one per node, made as nodes appear.
import type { Cluster, Redis } from 'ioredis';

/** Calls `fn` for each connection of `client`: now, and for every Cluster node added later. */
export function onEveryConnection(client: Redis | Cluster, fn: (connection: Redis) => void): void {
  if ((client as Cluster).isCluster) {
    const cluster = client as Cluster;
    for (const node of cluster.nodes('all')) fn(node);
    cluster.on('+node', (node: Redis) => fn(node));
    return;
  }
  fn(client as Redis);
}
