// A Baton HTTP worker in Node (built-in fetch only): claims tasks of TASK_TYPE, reports progress,
// completes them or fails the attempt, and takes the next task with the finish. Env: BATON_URL (default http://localhost:3000), BATON_API_KEY
// (optional), TASK_TYPE (default "example"), MAX_TASKS (stop after this many; 0 = forever).
const BASE = (process.env.BATON_URL ?? 'http://localhost:3000').replace(/\/$/, '');
const KEY = process.env.BATON_API_KEY ?? '';
const TYPE = process.env.TASK_TYPE ?? 'example';
const MAX_TASKS = Number(process.env.MAX_TASKS ?? 0);

async function call(path, body) {
  const res = await fetch(BASE + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(KEY ? { authorization: `Bearer ${KEY}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** The job itself: replace with real work. */
async function work(task, report) {
  const steps = 3;
  for (let i = 1; i <= steps; i++) {
    await new Promise((r) => setTimeout(r, 10));
    await report(i, steps, `step ${i} of ${steps}`);
  }
  return { echo: task.payload, by: 'node' };
}

const CLAIM = { waitMs: 20000, lockMs: 30000 };
// A finish (complete or fail) can claim the next task in the same request (`next`): one request per task.
let handedOver = null;
for (let done = 0; MAX_TASKS === 0 || done < MAX_TASKS; ) {
  const claimed = handedOver ? { status: 200, body: handedOver } : await call(`/v1/workers/${TYPE}/claim`, CLAIM);
  handedOver = null;
  if (claimed.status === 204) continue;
  if (claimed.status !== 200) {
    console.error('claim failed', claimed.status, claimed.body);
    await new Promise((r) => setTimeout(r, 1000));
    continue;
  }
  const { task, token } = claimed.body;
  const report = async (current, total, status) => {
    const r = await call(`/v1/tasks/${task.id}/progress`, { token, current, total, status });
    if (r.status === 409) throw new Error(r.body?.code ?? 'conflict'); // revoked or lock lost: stop
  };
  done++;
  const next = MAX_TASKS === 0 || done < MAX_TASKS ? { next: CLAIM } : {}; // the last one takes no next task
  let finished;
  try {
    const result = await work(task, report);
    finished = await call(`/v1/tasks/${task.id}/complete`, { token, result, ...next });
  } catch (err) {
    finished = await call(`/v1/tasks/${task.id}/fail`, { token, error: String(err?.message ?? err), ...next });
  }
  handedOver = finished.status === 200 ? (finished.body.next ?? null) : null;
}
