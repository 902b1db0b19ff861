#!/usr/bin/env bash
# One sitting of the full-profile queue on a lent GPU machine (the workplace's device tool), prepared here so that
# none of its few minutes go to set-up. On this machine first:
#     make device-data                  # copies the plan's datasets into .devdata/ (git-ignored, ~24 MB for CWS)
# then call the device tool with carry [".devdata"] and the command
#     bash study/device.sh 8 1 2        # 8 minutes in all, tiers 1 and 2 (none: the whole plan; runs whose
#                                       # datasets were not copied are left out, and the log names them)
# and unpack what came back from the repository root here:
#     tar -xzf <files_at>/records.tgz   # the finished records (results/runs/...), then commit them
#
# It prints the machine (torch, GPU), times the FGKF steps at paper size on the GPU (BENCH=0 skips it: ~1 min),
# runs `sweep --plan study/full.yaml --device cuda --hours` for what is left of MINUTES (counted from the script's
# start, less a minute for pausing and packing) with WORKERS (default 8) 1-thread workers sharing the one GPU, and
# packs every record written in this call into $OUT/records.tgz, with the log beside it. Keep MINUTES a few under
# the device call's timeout_s: a run pauses at its next checkpoint after the deadline, and `timeout` ends the
# sweep 30 s after it at the latest, so the archive is always made.
# Unfinished runs pause at a checkpoint in .devckpt/; a call on the still-warm machine resumes them exactly, a
# fresh machine starts them again. Records say their device (cuda:<GPU>), so the plan's ETAs keep the two apart.
# FGKF_DEVICE=cpu PLAN=<smoke plan> runs the same steps on a CPU (the test does that).
set -euo pipefail
minutes=${1:?usage: bash study/device.sh MINUTES [TIER ...] (no tiers: the whole plan, in tier order)}
shift
start=$(date +%s)
python=${PYTHON:-python3}
out=${OUT:-/tmp/fgkf-device-out}
plan=${PLAN:-study/full.yaml}
device=${FGKF_DEVICE:-cuda}
export FGKF_DATA=${FGKF_DATA:-.devdata} FGKF_CHECKPOINTS=${FGKF_CHECKPOINTS:-.devckpt} PYTHONUNBUFFERED=1
export TORCHINDUCTOR_COMPILE_THREADS=1  # one inductor compile process per worker, not a pool of 16 each
mkdir -p "$out" "$FGKF_CHECKPOINTS"
[ -d "$FGKF_DATA" ] || { echo "study/device.sh: no data folder $FGKF_DATA (run make device-data, carry .devdata)" >&2; exit 2; }
end=$("$python" -c "import sys; m = float(sys.argv[1]); assert m > 0, m; print(int(sys.argv[2]) + int(m * 60))" \
  "$minutes" "$start")
since=$(mktemp)  # records newer than this file were written by this call
"$python" -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(),
      '|', torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')" | tee "$out/device.log"
if [ "${BENCH:-1}" = 1 ]; then
  "$python" -m fgkf_core bench --device "$device" --tasks cws_weibo --batches 3 2>&1 | tee -a "$out/device.log" \
    || echo "bench failed; the sweep runs all the same" | tee -a "$out/device.log"
fi
left=$(( end - 60 - $(date +%s) ))  # a minute for pausing the runs and packing
if [ "$left" -gt 0 ]; then
  hours=$("$python" -c "import sys; print(int(sys.argv[1]) / 3600)" "$left")
  timeout --signal=TERM $(( left + 30 )) "$python" -m fgkf_core sweep --plan "$plan" --device "$device" \
    --workers "${WORKERS:-8}" --threads 1 --hours "$hours" --quiet ${1:+--tiers "$@"} 2>&1 | tee -a "$out/device.log" \
    || echo "sweep exited early or was stopped at the deadline" | tee -a "$out/device.log"
else
  echo "no time left for the sweep after the bench" | tee -a "$out/device.log"
fi
mapfile -t written < <(find "${FGKF_RESULTS:-results}/runs" -type f -newer "$since" | sort)
tar -czf "$out/records.tgz" "${written[@]}" 2>/dev/null || tar -czf "$out/records.tgz" --files-from /dev/null
echo "${#written[@]} files written in this call (records and their side files), packed in $out/records.tgz" \
  | tee -a "$out/device.log"
