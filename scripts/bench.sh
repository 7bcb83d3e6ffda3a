#!/usr/bin/env bash
# Speed of ldm against a PyTorch reference of the same models, on this machine.
#
# Usage: scripts/bench.sh [denoiser|autoencoder|sampling|encoding|all]... [--ops]
#                         [--threads N] [--rounds R] [--quiet-wait SECONDS]
#                         [--omp-wait passive|active|unset]
#                         [--steps N] [--warmup N] [--batch N] [--only OP]
#                         [--precision f32|bf16|f16]
#                         [--gpu] [--exe BENCH_BINARY] [--python PYTHON]
#
# Builds the Rust benchmark once (release), then for each benchmark runs ldm
# (benches/train_steps.rs) and PyTorch (scripts/bench_reference.py) alternately,
# A B A B ..., R rounds, each run in a fresh process with the same thread count
# (RAYON_NUM_THREADS for ldm; torch.set_num_threads and OMP_NUM_THREADS for PyTorch).
# Prints a table of medians and ratios, and appends every raw JSON line (with the round,
# load average, commit and CPU) to benches/results/<date>.jsonl.
#
# --ops adds the op-level breakdown (conv, group norm, attention, matmul, elementwise at
# the denoiser's sizes; forward and forward + backward). `--ops` alone runs only that;
# `--only OP` keeps just the ops whose name contains OP.
# --steps/--warmup/--batch override each benchmark's defaults (see benches/README.md).
# --precision bf16|f16: the denoiser step in mixed precision (ldm's `precision`, PyTorch
# under torch.autocast; f16 with loss scaling on both sides).
# --gpu: the denoiser on a GPU, ldm through wgpu (`--device wgpu`; a bench binary built with
# `--features wgpu`) against PyTorch on CUDA. wgpu's WGSL shaders have f16 but no bf16.
# --exe: a prebuilt bench binary instead of building one (a GPU machine has no cargo);
# --python: the Python that has torch (default: the reference venv). See benches/README.md,
# "GPU", for the prepared device run.
# --quiet-wait S: before each run, wait up to S seconds for other processes to use < 0.3
# cores (shared machines). Each result line records `others_cores`, the cores other
# processes used on average during that run; the summary prints its range.
# --omp-wait: OMP_WAIT_POLICY for PyTorch; default `unset` (torch as shipped, the fair
# setting on a quiet machine). Torch's OpenMP threads spin at barriers and split work
# statically, so when another process holds a core a 2-thread run on 2 cores slows down
# 10-30x; `passive` avoids that collapse on a busy machine but costs torch ~35% when quiet
# (flattering ldm). Prefer --quiet-wait and runs with others_cores near 0.
#
# Needs cargo (or --exe) and the reference venv (scripts/setup-reference-venv.sh; or
# --python). Nothing here is a test: no time is ever asserted. Default: all benchmarks, 2
# threads, 3 rounds.
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
CALLER=$PWD
cd "$ROOT"
PY_REF="$ROOT/.venv-ref/bin/python"

die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '[bench] %s\n' "$*" >&2; }
# A path given on the command line, relative to where the script was called from.
from_caller() { if [[ $1 == /* ]]; then printf '%s' "$1"; else printf '%s' "$CALLER/$1"; fi; }

BENCHES=()
OPS=0
THREADS=2
ROUNDS=3
QUIET_WAIT=0
OMP_WAIT=unset
PASS=()
LDM_PASS=()
TORCH_PASS=()
EXE=""
while [[ $# -gt 0 ]]; do
  case $1 in
    denoiser | autoencoder | sampling | encoding) BENCHES+=("$1") ;;
    all) BENCHES+=(denoiser autoencoder sampling encoding) ;;
    ops | --ops) OPS=1 ;;
    --threads) THREADS=${2:?--threads needs a value}; shift ;;
    --rounds) ROUNDS=${2:?--rounds needs a value}; shift ;;
    --quiet-wait) QUIET_WAIT=${2:?--quiet-wait needs a value}; shift ;;
    --omp-wait) OMP_WAIT=${2:?--omp-wait needs a value}; shift ;;
    --steps | --warmup | --batch | --only | --precision) PASS+=("$1" "${2:?$1 needs a value}"); shift ;;
    --gpu) LDM_PASS=(--device wgpu); TORCH_PASS=(--device cuda) ;;
    --exe) EXE=$(from_caller "${2:?--exe needs a value}"); shift ;;
    --python) PY_REF=${2:?--python needs a value}; [[ $PY_REF != */* ]] || PY_REF=$(from_caller "$PY_REF"); shift ;;
    -h | --help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[[ ${#BENCHES[@]} -gt 0 || $OPS == 1 ]] || BENCHES=(denoiser autoencoder sampling encoding)
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive whole number"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive whole number"
[[ $QUIET_WAIT =~ ^[0-9]+$ ]] || die "--quiet-wait must be a whole number of seconds"
[[ $OMP_WAIT =~ ^(passive|active|unset)$ ]] || die "--omp-wait must be passive, active or unset"
command -v python3 >/dev/null || die "python3 is required (for the summary)"
if [[ ${#LDM_PASS[@]} -gt 0 ]]; then
  [[ $OPS == 0 && ${BENCHES[*]} == denoiser ]] || die "--gpu runs the denoiser benchmark alone"
fi
if [[ $PY_REF == "$ROOT/.venv-ref/bin/python" ]]; then
  [[ -x $PY_REF ]] || die "no reference venv at .venv-ref: run scripts/setup-reference-venv.sh"
else
  command -v "$PY_REF" >/dev/null || die "--python $PY_REF: not found"
fi

if [[ -z $EXE ]]; then
  command -v cargo >/dev/null || die "cargo is required (or --exe)"
  log "building benches/train_steps.rs (release)"
  EXE=$(scripts/bench-exe.sh)
fi
[[ -x $EXE ]] || die "no train_steps executable at '$EXE'"

mkdir -p benches/results
OUT="benches/results/$(date +%F).jsonl"
RUN=$(mktemp)
trap 'rm -f "$RUN"' EXIT
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT+dirty"
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
STAMP=$(date -u +%FT%TZ)

# Busy and total jiffies of all CPUs (/proc/stat; steal counts as busy).
cpu_sample() { awk '/^cpu /{b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6}' /proc/stat; }

# Wait (up to QUIET_WAIT seconds) until other processes use < 0.3 cores over 2 s.
wait_quiet() {
  local waited=0 b0 t0 b1 t1 cores
  while :; do
    read -r b0 t0 < <(cpu_sample)
    sleep 2
    read -r b1 t1 < <(cpu_sample)
    cores=$(awk -v db=$((b1 - b0)) -v dt=$((t1 - t0)) -v n="$(nproc)" 'BEGIN{printf "%.2f", dt ? db * n / dt : 0}')
    if awk -v c="$cores" 'BEGIN{exit !(c < 0.3)}'; then return; fi
    waited=$((waited + 2))
    if ((waited >= QUIET_WAIT)); then
      log "machine still busy ($cores cores in use by others) after ${waited}s; measuring anyway"
      return
    fi
  done
}

# Append the JSON lines of one process (stdin) to the results, with where and when they were
# measured and how many cores other processes used meanwhile: the machine's busy CPU time
# over the run, less the process's own (`cpu_s`), over the wall time.
record() {
  ROUND=$1 LOAD=$2 S0=$3 S1=$4 COMMIT=$COMMIT CPU=$CPU STAMP=$STAMP NPROC=$(nproc) python3 -c '
import json, os, sys
e = os.environ
rows = [json.loads(l) for l in sys.stdin if l.strip().startswith("{")]
b0, t0 = map(int, e["S0"].split())
b1, t1 = map(int, e["S1"].split())
nproc = int(e["NPROC"])
wall = (t1 - t0) / 100.0 / nproc
own = max((r.get("cpu_s", 0.0) for r in rows), default=0.0)
others = max(0.0, ((b1 - b0) / 100.0 - own) / wall) if wall > 0 else float("nan")
for d in rows:
    d.update(round=int(e["ROUND"]), loadavg=e["LOAD"], others_cores=round(others, 2),
             commit=e["COMMIT"], cpu=e["CPU"], nproc=nproc, started=e["STAMP"])
    print(json.dumps(d, sort_keys=True))
' | tee -a "$OUT" >>"$RUN"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

run_ldm() { RAYON_NUM_THREADS=$THREADS "$EXE" "$@" ${LDM_PASS[@]+"${LDM_PASS[@]}"}; }
# OPENBLAS_* tuning variables set on some machines slow torch's numpy side; not ours to keep.
# OMP_WAIT_POLICY: see --omp-wait.
run_torch() {
  local wait=(env -u OMP_WAIT_POLICY)
  [[ $OMP_WAIT == unset ]] || wait=(env OMP_WAIT_POLICY="${OMP_WAIT^^}")
  "${wait[@]}" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$THREADS" \
    MKL_NUM_THREADS="$THREADS" "$PY_REF" scripts/bench_reference.py "$@" --threads "$THREADS" \
    ${TORCH_PASS[@]+"${TORCH_PASS[@]}"}
}

# measure ROUND LABEL CMD...: one process, recorded; its stdout is left in LAST.
LAST=""
measure() {
  local round=$1 label=$2 load s0 s1
  shift 2
  if ((QUIET_WAIT > 0)); then wait_quiet; fi
  load=$(loadavg)
  log "$label round $round/$ROUNDS (load $load)"
  s0=$(cpu_sample)
  LAST=$("$@")
  s1=$(cpu_sample)
  printf '%s\n' "$LAST" | record "$round" "$load" "$s0" "$s1"
}

log "commit $COMMIT, $CPU, $(nproc) cores, $THREADS threads, $ROUNDS rounds, load $(loadavg)"
for bench in "${BENCHES[@]}"; do
  params=""
  for ((r = 1; r <= ROUNDS; r++)); do
    measure "$r" "$bench ldm" run_ldm "$bench" ${PASS[@]+"${PASS[@]}"}
    [[ -n $params ]] || params=$(printf '%s\n' "$LAST" | python3 -c 'import json, sys; print(json.dumps(json.loads(sys.stdin.read())["params"]))')
    measure "$r" "$bench pytorch" run_torch "$bench" --expect-params "$params" ${PASS[@]+"${PASS[@]}"}
  done
done
if [[ $OPS == 1 ]]; then
  for ((r = 1; r <= ROUNDS; r++)); do
    measure "$r" "ops ldm" run_ldm ops ${PASS[@]+"${PASS[@]}"}
    measure "$r" "ops pytorch" run_torch ops ${PASS[@]+"${PASS[@]}"}
  done
fi
log "raw results appended to $OUT"

python3 - "$RUN" <<'EOF'
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if not rows:
    sys.exit(0)
med = statistics.median
r0 = rows[0]
loads = sorted({r["loadavg"].split()[0] for r in rows}, key=float)
others = sorted(r["others_cores"] for r in rows)
print(f"\n{r0['started']}  commit {r0['commit']}  {r0['cpu']} ({r0['nproc']} cores)  "
      f"load avg (1 min) {loads[0]}..{loads[-1]}  cores used by other processes during runs "
      f"{others[0]:.2f}..{others[-1]:.2f}  rounds {max(r['round'] for r in rows)}  PyTorch "
      f"OMP_WAIT_POLICY {','.join(sorted({r['omp_wait_policy'] for r in rows if 'omp_wait_policy' in r}))}\n")

steps = [r for r in rows if r["bench"] != "ops"]
for r in steps:
    # A GPU run and a mixed-precision run are rows of their own.
    if r.get("device", "cpu") != "cpu":
        r["bench"] += " gpu"
    if r.get("precision", "f32") != "f32":
        r["bench"] += f" {r['precision']}"
if steps:
    print("| benchmark | threads | ldm steps/s | PyTorch steps/s | ldm / PyTorch | ldm peak MB "
          "| PyTorch peak MB | memory ldm / PyTorch | PyTorch peak above import MB | others' cores |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for bench in dict.fromkeys(r["bench"] for r in steps):
        a = [r for r in steps if r["bench"] == bench and r["impl"] == "ldm"]
        b = [r for r in steps if r["bench"] == bench and r["impl"] == "pytorch"]
        if not a or not b:
            continue
        sa, sb = med([r["steps_per_sec"] for r in a]), med([r["steps_per_sec"] for r in b])
        ma, mb = med([r["peak_rss_mb"] for r in a]), med([r["peak_rss_mb"] for r in b])
        mb_net = med([r["peak_rss_mb"] - r["baseline_rss_mb"] for r in b])
        unit = ""
        if "images_per_sec" in a[0]:
            unit = (f" ({med([r['images_per_sec'] for r in a]):.1f} img/s)",
                    f" ({med([r['images_per_sec'] for r in b]):.1f} img/s)")
        ua, ub = unit if unit else ("", "")
        print(f"| {bench} (batch {a[0]['batch']}) | {a[0]['threads']} | {sa:.3f}{ua} | {sb:.3f}{ub} "
              f"| {sa / sb:.2f} | {ma:.0f} | {mb:.0f} | {ma / mb:.2f} | {mb_net:.0f} "
              f"| {med([r['others_cores'] for r in a + b]):.2f} |")
    print()
    # Phase medians, where both sides report them.
    for bench in dict.fromkeys(r["bench"] for r in steps):
        a = [r for r in steps if r["bench"] == bench and r["impl"] == "ldm" and "phases_ms" in r]
        b = [r for r in steps if r["bench"] == bench and r["impl"] == "pytorch" and "phases_ms" in r]
        if not a or not b:
            continue
        print(f"{bench} phases (median ms per step): ", end="")
        parts = []
        for k in a[0]["phases_ms"]:
            pa = med([r["phases_ms"][k] for r in a])
            pb = med([r["phases_ms"].get(k, float("nan")) for r in b])
            parts.append(f"{k} {pa:.1f} vs {pb:.1f} ({pb / pa if pa else float('nan'):.2f}x)")
        print("; ".join(parts) + "  [ldm vs PyTorch (ldm speed relative to PyTorch)]")
    print()

ops = [r for r in rows if r["bench"] == "ops"]
if ops:
    print("(dx / dW rows: the op alone, in the 'fwd' columns)\n")
    batch = next((r["batch"] for r in ops if r.get("batch")), "?")
    print(f"| op (batch {batch}) | threads | ldm fwd ms | PyTorch fwd ms | ldm / PyTorch speed "
          "| ldm fwd+bwd ms | PyTorch fwd+bwd ms | ldm / PyTorch speed |")
    print("|---|---|---|---|---|---|---|---|")
    for op in dict.fromkeys(r["op"] for r in ops):
        a = [r for r in ops if r["op"] == op and r["impl"] == "ldm"]
        b = [r for r in ops if r["op"] == op and r["impl"] == "pytorch"]
        if not a or not b:
            continue
        fa, fb = med([r["fwd_ms"] for r in a]), med([r["fwd_ms"] for r in b])
        if a[0]["fwdbwd_ms"] is None or b[0]["fwdbwd_ms"] is None:
            tail = "| - | - | - |"
        else:
            ba, bb = med([r["fwdbwd_ms"] for r in a]), med([r["fwdbwd_ms"] for r in b])
            tail = f"| {ba:.3f} | {bb:.3f} | {bb / ba:.2f} |"
        print(f"| {op} | {a[0]['threads']} | {fa:.3f} | {fb:.3f} | {fb / fa:.2f} {tail}")
    print()
EOF
