#!/usr/bin/env bash
# The final grid (issue 44) in priority order: seed 0 of every tiger row first, so that each sitting leaves a
# comparable set of rows; then the RecBole and trivial baselines; then seeds 1-2; then the ablation rows; title+tiger
# last (16-token IDs: about 3 hours a seed on one thread, more than a sitting whose files do not outlive it can
# give a job beside another; run those lines where checkpoints persist). Jobs are popped from one queue by WORKERS
# one-thread workers (two one-thread runs beat one two-thread run on a 2-core host). The code runs from a
# clean worktree of HEAD, so every record carries a clean git sha; records land in this checkout's results/
# and the cache is this checkout's .cache/. The runner skips finished jobs, resumes killed ones from their
# checkpoints and replaces records made with other settings (--replace-stale): rerun this in every sitting.
#
#   nohup scripts/grid.sh > grid.log 2>&1 &          (two workers; `scripts/grid.sh 1` for one; each job's
#                                                    output goes to /tmp/sid-bench-grid.logs/)
#   GRID_DRY=1 scripts/grid.sh                       (print the queue's commands, run nothing)
#
# The whole script is one { } block, which bash reads to its end before running any of it: bash reads a script
# as it goes, so an edit to this file while a grid runs (a commit, a pull) would otherwise break the running one.
{
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
workers=${1:-2}
python=${PYTHON:-$repo/.venv/bin/python}

# suite, seeds, tokenizers (- for none), recommenders. Every job of the three suites is here (a test checks
# it), finished ones too: the runner skips them in seconds.
queue_lines() {
  # letter first and plum two jobs later: both read CF embeddings (most of an hour to build when the cache lacks
  # them), which letter builds while the other worker trains rqvae and rkmeans, so no worker waits on the build
  local main="letter rqvae rkmeans plum das random rkmeans-balanced"
  local cold="letter rqvae rkmeans plum das random"
  for t in $main; do echo "amazon-beauty 0 $t tiger"; done
  for t in $main; do echo "amazon-toys 0 $t tiger"; done
  for t in $cold; do echo "amazon-beauty-cold 0 $t tiger"; done
  echo "amazon-beauty 0,1,2 - popularity,random,sasrec,bert4rec,gru4rec"
  echo "amazon-toys 0,1,2 - popularity,random,sasrec,bert4rec,gru4rec"
  echo "amazon-beauty-cold 0,1,2 - popularity,text-knn,sasrec"
  for seed in 1 2; do
    for t in $main; do echo "amazon-beauty $seed $t tiger"; done
    for t in $main; do echo "amazon-toys $seed $t tiger"; done
    for t in $cold; do echo "amazon-beauty-cold $seed $t tiger"; done
  done
  for t in plum-no-fusion plum-single-resolution plum-no-masking plum-no-cooccurrence das-no-align das-no-debias; do
    echo "amazon-beauty 0 $t tiger"
  done
  echo "amazon-beauty 0 rqvae tiger-sid-tokens"; echo "amazon-beauty 0 letter tiger-rgl"
  echo "amazon-beauty 0 das,das-no-align,das-no-debias tiger-user-sids"
  for seed in 0 1 2; do
    for suite in amazon-beauty amazon-toys amazon-beauty-cold; do echo "$suite $seed title tiger"; done
  done
}

command_for() {  # one queue line -> the run command
  local suite=$1 seeds=$2 tokenizers=$3 recommenders=$4
  echo "$python -m bench run --suite $suite --budget cpu --seeds $seeds --recommenders $recommenders" \
       "$([ "$tokenizers" = - ] || echo "--tokenizers $tokenizers") --threads 1 --replace-stale" \
       "--results-dir $repo/results"
}

if [ -n "${GRID_DRY:-}" ]; then
  queue_lines | while read -r line; do command_for $line; done
  exit 0
fi

work=${GRID_WORKTREE:-/tmp/sid-bench-grid}  # replaced at start, so one grid.sh at a time: the lock says so
exec 8>"$work.running"  # held by this script and every worker and job it starts, until the last one ends
if ! flock -n 8; then
  echo "grid.sh: another grid.sh is running from $work (a process holds $work.running); stop it first" >&2
  exit 1
fi
if [ -n "$(git -C "$repo" status --porcelain -- bench recommenders tokenizers suites pyproject.toml)" ]; then
  echo "grid.sh: commit the code first (records carry the git sha, and a dirty tree's are defects)" >&2
  exit 1
fi
git -C "$repo" worktree remove --force "$work" 2>/dev/null || rm -rf "$work"
git -C "$repo" worktree prune
git -C "$repo" worktree add --quiet --detach "$work" HEAD
queue=$work.queue  # beside the worktree, which stays exactly HEAD
queue_lines > "$queue"
echo "grid.sh: $(wc -l < "$queue") queue lines, $workers worker(s), code at $(git -C "$work" rev-parse --short HEAD)"

pop() {  # the queue's next line, taken by one worker only
  exec 9>"$queue.lock"
  flock 9
  local line
  line=$(head -n 1 "$queue")
  [ -n "$line" ] && sed -i 1d "$queue"
  flock -u 9
  [ -n "$line" ] && echo "$line"
}

logs=$work.logs  # one log per queue line, so two workers' progress bars do not interleave
mkdir -p "$logs"
worker() {
  local line log
  while line=$(pop); do
    log=$logs/$(echo "$line" | tr ' ,' '_+').log
    echo "[worker $1 $(date +%H:%M)] $line  (log: $log)"
    if (cd "$work" && SID_BENCH_CACHE=${SID_BENCH_CACHE:-$repo/.cache} $(command_for $line)) >> "$log" 2>&1; then
      echo "[worker $1 $(date +%H:%M)] done: $line"
    else
      echo "[worker $1 $(date +%H:%M)] failed: $line (the queue goes on; see its log)"
    fi
  done
}

for w in $(seq 1 "$workers"); do worker "$w" & done
wait
echo "grid.sh: queue empty"
exit
}
