#!/usr/bin/env python3
"""A Baton HTTP worker in Python, standard library only.

Claims tasks of TASK_TYPE, reports progress, completes them (or fails the attempt on an exception).
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


def main():
    done = 0
    while MAX_TASKS == 0 or done < MAX_TASKS:
        status, claimed = call("/v1/workers/%s/claim" % TYPE, {"waitMs": 20000, "lockMs": 30000})
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

        try:
            result = work(task, report)
            call("/v1/tasks/%s/complete" % tid, {"token": token, "result": result})
        except Exception as e:  # a failed attempt: Baton retries it with backoff while attempts remain
            call("/v1/tasks/%s/fail" % tid, {"token": token, "error": str(e)})
        done += 1


if __name__ == "__main__":
    main()
