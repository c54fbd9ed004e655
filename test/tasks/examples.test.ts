// The "any language" examples run against a live Baton (a listening server) and finish real tasks.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { auth, build, KEYS } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);
const examples = fileURLToPath(new URL('../../examples/', import.meta.url));

function run(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

const workers: [string, string, string[]][] = [
  ['python', 'python3', [`${examples}worker.py`]],
  ['node', process.execPath, [`${examples}worker.mjs`]],
  ['shell', 'bash', [`${examples}worker.sh`]],
];

const has = (bin: string, arg = '--version') => spawnSync(bin, [arg], { stdio: 'ignore' }).error === undefined;
const missing: Record<string, string | false> = {
  python: !has('python3') && 'python3 is not installed',
  node: false,
  shell: (!has('curl') || !has('jq')) && 'worker.sh needs curl and jq',
};

for (const [lang, cmd, args] of workers) {
  t.test(`examples/${args[0]!.split('/').pop()} claims, reports progress and completes tasks`, { skip: missing[lang] ?? false }, async (t) => {
    const app = await build(t, redis.url, { listen: true });
    const type = `example-${lang}`;
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const r = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type, payload: { n } } });
      ids.push(r.json().id);
    }
    const claims = async () =>
      [...(await app.inject({ url: '/metrics' })).body.matchAll(/^baton_http_request_duration_seconds_count\{route="\/v1\/workers\/:type\/claim"[^}]*\} (\d+)/gm)]
        .reduce((n, m) => n + Number(m[1]), 0);
    const claimsBefore = await claims();
    const { code, stderr } = await run(cmd, args, { BATON_URL: app.baseUrl, BATON_API_KEY: KEYS.t1, TASK_TYPE: type, MAX_TASKS: '2' });
    t.equal(code, 0, stderr);
    t.equal((await claims()) - claimsBefore, 1, 'one claim: the second task came with the first one\'s complete (`next`)');
    const third = (await app.inject({ url: `/v1/tasks/${ids.pop()}`, headers: auth() })).json();
    t.equal(third.state, 'PENDING', 'after MAX_TASKS the worker stops without taking another task (no `next` on the last)');
    for (const [i, id] of ids.entries()) {
      const v = (await app.inject({ url: `/v1/tasks/${id}`, headers: auth() })).json();
      t.equal(v.state, 'SUCCESS', `${lang} task ${i + 1}`);
      t.same(v.result, { echo: { n: i + 1 }, by: lang === 'shell' ? 'sh' : lang });
    }
  });
}

t.end();
