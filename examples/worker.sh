#!/usr/bin/env bash
# A Baton HTTP worker in shell (curl; jq for JSON): claims tasks of TASK_TYPE, reports progress,
# completes them, or fails the attempt when the work command fails, taking the next task with the finish.
# Env: BATON_URL (default http://localhost:3000), BATON_API_KEY (optional), TASK_TYPE (default "example"),
# MAX_TASKS (stop after this many; 0 = forever).
set -u
BASE="${BATON_URL:-http://localhost:3000}"
TYPE="${TASK_TYPE:-example}"
MAX="${MAX_TASKS:-0}"
AUTH=()
[ -n "${BATON_API_KEY:-}" ] && AUTH=(-H "authorization: Bearer ${BATON_API_KEY}")

post() { # post PATH JSON → prints "<status>\n<body>"
  curl -s -o /tmp/baton-worker.$$ -w '%{http_code}' -X POST "${AUTH[@]}" -H 'content-type: application/json' \
    --data "$2" "$BASE$1"
  echo
  cat /tmp/baton-worker.$$ 2>/dev/null
}

CLAIM='{"waitMs":20000,"lockMs":30000}'
done_count=0
handed="" # a task the last complete or fail claimed with it (`next`): one request per task
while [ "$MAX" -eq 0 ] || [ "$done_count" -lt "$MAX" ]; do
  if [ -n "$handed" ]; then
    status=200; body="$handed"; handed=""
  else
    out="$(post "/v1/workers/$TYPE/claim" "$CLAIM")"
    status="$(head -n1 <<<"$out")"; body="$(tail -n +2 <<<"$out")"
  fi
  [ "$status" = 204 ] && continue
  if [ "$status" != 200 ]; then echo "claim failed: $status $body" >&2; sleep 1; continue; fi
  id="$(jq -r .task.id <<<"$body")"; token="$(jq -r .token <<<"$body")"; payload="$(jq -c .task.payload <<<"$body")"
  for i in 1 2 3; do
    post "/v1/tasks/$id/progress" "$(jq -nc --arg t "$token" --argjson i "$i" '{token:$t,current:$i,total:3,status:"step \($i) of 3"}')" >/dev/null
  done
  done_count=$((done_count + 1))
  next="{\"next\":$CLAIM}"
  if [ "$MAX" -ne 0 ] && [ "$done_count" -ge "$MAX" ]; then next='{}'; fi # the last one takes no next task
  # The work: replace with a real command. Its output becomes the result.
  if result="$(echo "$payload")"; then
    out="$(post "/v1/tasks/$id/complete" "$(jq -nc --arg t "$token" --argjson r "$result" --argjson n "$next" '{token:$t,result:{echo:$r,by:"sh"}} + $n')")"
  else
    out="$(post "/v1/tasks/$id/fail" "$(jq -nc --arg t "$token" --argjson n "$next" '{token:$t,error:"the work command failed"} + $n')")"
  fi
  if [ "$(head -n1 <<<"$out")" = 200 ]; then handed="$(tail -n +2 <<<"$out" | jq -c '.next // empty')"; fi
done
rm -f /tmp/baton-worker.$$
