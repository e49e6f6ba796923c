#!/usr/bin/env bash
# conveyor beside its peers in the shared peers harness (../shared/peers), in one run.
#
#   bench/peers.sh                                   # conveyor:sqlite vs huey:sqlite, 3 reps
#   bench/peers.sh --reps 1 --no-baselines --only conveyor:sqlite
#   PEERS_WORK=/tmp/x/peers bench/peers.sh           # reuse a copy whose .venv is built
#   KEEP_PEERS=1 bench/peers.sh                      # keep the temp copy (results, logs)
#
# The harness folder is read-only, so it is copied to a temp folder first. Its .venv is
# built by `./run_all.sh --only-baselines --reps 1` (which also prints the raw-engine
# baselines), then this repository is installed into it (editable). Arguments are
# passed to run_all.sh; without any: --reps 3 --no-baselines --only conveyor:sqlite,huey:sqlite.
#
# One change is made to the copy's systems/conveyor_peer.py: on PostgreSQL, conveyor's
# tables go in the public schema (?schema=public), the one the harness drops between
# phases; in its own schema, jobs of one phase would stay for the next. (The harness
# also deletes the SQLite folder between phases while the producer's queue stays open:
# conveyor notices the new file by itself, see "the file is deleted or replaced" in the
# README.)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
src="${PEERS_SRC:-$repo/../shared/peers}"

if [[ -n "${PEERS_WORK:-}" ]]; then
  work="$PEERS_WORK"
else
  tmp="$(mktemp -d -t conveyor-peers-XXXXXX)"
  work="$tmp/peers"
  if [[ -z "${KEEP_PEERS:-}" ]]; then
    trap 'rm -rf "$tmp"' EXIT
  fi
fi
if [[ ! -f "$work/run_all.sh" ]]; then
  mkdir -p "$(dirname "$work")"
  cp -r "$src" "$work"
  chmod -R u+w "$work"
fi
cd "$work"

if [[ ! -x .venv/bin/python ]]; then
  echo "== building the harness venv (./run_all.sh --only-baselines --reps 1)"
  ./run_all.sh --only-baselines --reps 1
fi
echo "== installing conveyor (editable) into the harness venv"
.venv/bin/pip install -q -e "$repo"

.venv/bin/python - <<'PY'
from pathlib import Path

peer = Path("systems/conveyor_peer.py")
text = peer.read_text()
patches = [
    (
        '"postgres": pg_dsn(),',
        '"postgres": pg_dsn() + "?schema=public",  # bench/peers.sh: the schema it cleans',
    ),
]
for old, new in patches:
    if "?schema=public" in text:  # the harness puts conveyor there itself now
        continue
    if new not in text:
        if old not in text:
            raise SystemExit(f"systems/conveyor_peer.py: {old.strip()!r} not found; patch by hand")
        text = text.replace(old, new)
        print(f"patched systems/conveyor_peer.py: {new.strip()}")
peer.write_text(text)
PY

if [[ $# -eq 0 ]]; then
  set -- --reps 3 --no-baselines --only conveyor:sqlite,huey:sqlite
fi
echo "== ./run_all.sh $*   (in $work)"
./run_all.sh "$@"
latest="$(ls -td results/*/ | head -1)"
echo "== ${latest}summary.md"
cat "${latest}summary.md"
