#!/usr/bin/env bash
# A Baton HTTP worker in shell (curl; jq for JSON): claims tasks of TASK_TYPE, reports progress,
# completes them, or fails the attempt when the work command fails.
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

done_count=0
while [ "$MAX" -eq 0 ] || [ "$done_count" -lt "$MAX" ]; do
  out="$(post "/v1/workers/$TYPE/claim" '{"waitMs":20000,"lockMs":30000}')"
  status="$(head -n1 <<<"$out")"; body="$(tail -n +2 <<<"$out")"
  [ "$status" = 204 ] && continue
  if [ "$status" != 200 ]; then echo "claim failed: $status $body" >&2; sleep 1; continue; fi
  id="$(jq -r .task.id <<<"$body")"; token="$(jq -r .token <<<"$body")"; payload="$(jq -c .task.payload <<<"$body")"
  for i in 1 2 3; do
    post "/v1/tasks/$id/progress" "$(jq -nc --arg t "$token" --argjson i "$i" '{token:$t,current:$i,total:3,status:"step \($i) of 3"}')" >/dev/null
  done
  # The work: replace with a real command. Its output becomes the result.
  if result="$(echo "$payload")"; then
    post "/v1/tasks/$id/complete" "$(jq -nc --arg t "$token" --argjson r "$result" '{token:$t,result:{echo:$r,by:"sh"}}')" >/dev/null
  else
    post "/v1/tasks/$id/fail" "$(jq -nc --arg t "$token" '{token:$t,error:"the work command failed"}')" >/dev/null
  fi
  done_count=$((done_count + 1))
done
rm -f /tmp/baton-worker.$$
