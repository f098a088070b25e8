#!/usr/bin/env bash
# Keep a study's run directory in the repository (runs/ is not committed), or bring it back to resume.
#   experiments/archive_run.sh save runs/recall reports/runs/recall      # frozen prereg, run.json, trials.jsonl.gz
#   experiments/archive_run.sh restore reports/runs/recall runs/recall   # then rerun `hebbian study` to resume
set -euo pipefail
case "${1:-}" in
  save)
    mkdir -p "$3"
    cp "$2/prereg.yaml" "$2/prereg.sha256" "$2/run.json" "$3/"
    gzip -9 -n -c "$2/trials.jsonl" > "$3/trials.jsonl.gz" ;;
  restore)
    [ ! -e "$3/trials.jsonl" ] || { echo "$3 already holds trials; not overwritten" >&2; exit 2; }
    mkdir -p "$3"
    cp "$2/prereg.yaml" "$2/prereg.sha256" "$2/run.json" "$3/"
    gzip -d -c "$2/trials.jsonl.gz" > "$3/trials.jsonl" ;;
  *) echo "usage: $0 save RUN_DIR DEST | restore ARCHIVE RUN_DIR" >&2; exit 2 ;;
esac
