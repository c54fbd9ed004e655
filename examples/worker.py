#!/usr/bin/env python3
"""A Baton HTTP worker in Python, standard library only.

Claims tasks of TASK_TYPE, reports progress, completes them (or fails the attempt on an exception), and
takes the next task with the finish (`next`), so a busy worker sends one request per task.
Env: BATON_URL (default http://localhost:3000), BATON_API_KEY (optional), TASK_TYPE (default "example"),
MAX_TASKS (stop after this many tasks; 0 = run forever).
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

BASE = os.environ.get("BATON_URL", "http://localhost:3000").rstrip("/")
KEY = os.environ.get("BATON_API_KEY", "")
TYPE = os.environ.get("TASK_TYPE", "example")
MAX_TASKS = int(os.environ.get("MAX_TASKS", "0"))


def call(path, body):
    """POST JSON; returns (status, parsed body or None)."""
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("content-type", "application/json")
    if KEY:
        req.add_header("authorization", "Bearer " + KEY)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            raw = res.read()
            return res.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def work(task, report):
    """The job itself: replace with real work. Returns the result."""
    steps = 3
    for i in range(1, steps + 1):
        time.sleep(0.01)
        report(i, steps, "step %d of %d" % (i, steps))
    return {"echo": task["payload"], "by": "python"}


CLAIM = {"waitMs": 20000, "lockMs": 30000}


def main():
    done = 0
    handed_over = None  # a task claimed by the last complete or fail (`next`): one request per task
    while MAX_TASKS == 0 or done < MAX_TASKS:
        if handed_over:
            status, claimed = 200, handed_over
        else:
            status, claimed = call("/v1/workers/%s/claim" % TYPE, CLAIM)
        handed_over = None
        if status == 204:
            continue
        if status != 200:
            print("claim failed: %s %s" % (status, claimed), file=sys.stderr)
            time.sleep(1)
            continue
        task, token = claimed["task"], claimed["token"]
        tid = task["id"]

        def report(current, total, text):
            s, body = call("/v1/tasks/%s/progress" % tid, {"token": token, "current": current, "total": total, "status": text})
            if s == 409:  # revoked, or the lock was lost: stop working on it
                raise RuntimeError(body.get("code", "conflict"))

        done += 1
        nxt = {"next": CLAIM} if MAX_TASKS == 0 or done < MAX_TASKS else {}  # the last one takes no next task
        try:
            result = work(task, report)
            s, body = call("/v1/tasks/%s/complete" % tid, dict({"token": token, "result": result}, **nxt))
        except Exception as e:  # a failed attempt: Baton retries it with backoff while attempts remain
            s, body = call("/v1/tasks/%s/fail" % tid, dict({"token": token, "error": str(e)}, **nxt))
        handed_over = body.get("next") if s == 200 and body else None


if __name__ == "__main__":
    main()
