#!/usr/bin/env bash
# Slurm array job: each task processes one deterministic shard of the
# recordings into the same output folder, all tasks at the same time (each
# session is claimed in its own folder, so no two tasks ever work on one),
# then one follow-up job merges the study table. The output folder must be on
# storage every node sees (NFS, Lustre, GPFS: exclusive create and rename are
# atomic there). Sizing the array: docs/cluster.md; scripts/slurm-check runs
# this file on a single-node Slurm.
#
#   sbatch --array=1-8 examples/slurm-array.sh /data/visits /data/mitool-out
#   sbatch --dependency=afterany:<ARRAY_JOB_ID> --wrap \
#     "target/release/mitool merge /data/mitool-out --out /data/mitool-out"
#
# A task that is killed (pre-empted, out of time) can simply be resubmitted:
# finished sessions are skipped, unfinished ones are redone (the killed task's
# claims are taken over at once on the same node, after 10 minutes from another).
#SBATCH --job-name=mitool
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=mitool-%A_%a.log
set -euo pipefail
in=${1:?usage: slurm-array.sh INPUT_DIR OUTPUT_DIR}
out=${2:?usage: slurm-array.sh INPUT_DIR OUTPUT_DIR}
n=${SLURM_ARRAY_TASK_COUNT:?run with sbatch --array=1-N}
i=${SLURM_ARRAY_TASK_ID:?run with sbatch --array=1-N}
# Models are installed once on shared storage by scripts/setup.sh.
export MITOOL_MODELS=${MITOOL_MODELS:-$PWD/models}
status=0
target/release/mitool --quiet batch "$in" --out "$out" --shard "$i/$n" \
  --threads "${SLURM_CPUS_PER_TASK:-2}" || status=$?
# Exit code 1 means some sessions failed (listed in failures.csv) or were left
# to another run working on them: not a task failure.
[ "$status" -le 1 ] || exit "$status"
