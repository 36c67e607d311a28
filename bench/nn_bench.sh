#!/usr/bin/env bash
# Neural-network training throughput (issue 4, Performance): the sgdscape
# engine against the same architectures in PyTorch, in the same run on the
# same machine, each model in a fresh process per side (peak memory is per
# model). Batch 128, 3x32x32 random inputs, 10 classes, SGD momentum 0.9,
# weight decay 1e-4, THREADS threads on both sides. Prints one table.
#
#   bench/nn_bench.sh [-t THREADS] [-s SECONDS] [-r REPEATS] [-w POLICY] [-m MODEL]...
#     -t  threads on both sides (2)
#     -s  seconds of timed steps per model and side (6; at least 3 steps)
#     -r  alternate C / PyTorch runs R times per model, report the median of
#         the per-run medians (1)
#     -w  OMP_WAIT_POLICY for both sides: passive (default), active, or env
#         (leave the environment alone). Both sides use libgomp; on a machine
#         with more runnable threads than cores, spinning (active) waiters
#         steal the cores the working threads need and both sides slow down
#         several-fold and erratically; passive measures the arithmetic.
#     -m  model spec, repeatable (default: the four of issue 4)
#   Environment: BENCH_BUILD (build directory; default build/, configured if
#   missing), BENCH_JSON (file to append the raw JSON lines to).

set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=2 SECONDS_PER=6 REPS=1 WAIT=passive
MODELS=()
while [ $# -gt 0 ]; do
    case "$1" in
    -t) THREADS=$2; shift 2 ;;
    -s) SECONDS_PER=$2; shift 2 ;;
    -r) REPS=$2; shift 2 ;;
    -w) WAIT=$2; shift 2 ;;
    -m) MODELS+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "nn_bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$WAIT" in
passive|active) export OMP_WAIT_POLICY=$WAIT ;;
env) ;;
*) echo "nn_bench.sh: -w wants passive, active or env" >&2; exit 2 ;;
esac
[ ${#MODELS[@]} -gt 0 ] || MODELS=("resnet:n=1,w=4" "resnet20" "resnet34:w=16" "densenet:depth=100,k=12")
PY=/usr/bin/python3
. bench/build.sh
bench_build nn_bench.sh bench_nn bench_nn
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# The engine reaches OpenBLAS's sgemm_ through dlopen when its first network is
# built, single-threaded (src/nn/blas.c); bench_nn links OpenBLAS itself only to
# time sgemm (the ceiling line below).

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "engine BLAS: OpenBLAS sgemm_, loaded on first use, 1 thread per call"
echo "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset (libgomp default: spin, then sleep)} on both sides"
"$BIN" sgemm 2048 "$THREADS" 3 >"$TMP/sgemm" || echo '{}' >"$TMP/sgemm"
"$BIN" sgemm 2048 1 3 >"$TMP/sgemm1" || echo '{}' >"$TMP/sgemm1"
[ -n "${BENCH_JSON:-}" ] && cat "$TMP/sgemm" "$TMP/sgemm1" >>"$BENCH_JSON"

: >"$TMP/rows"
for spec in "${MODELS[@]}"; do
    for ((r = 0; r < REPS; r++)); do
        if "$BIN" model "$spec" "$THREADS" 128 "$SECONDS_PER" 40 >"$TMP/c" 2>"$TMP/cerr"; then
            params=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["params"])' "$TMP/c")
            expect=(--expect-params "$params")
        else
            echo "{\"impl\": \"sgdscape\", \"spec\": \"$spec\", \"error\": $($PY -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read().strip()[-300:] or "failed"))' "$TMP/cerr")}" >"$TMP/c"
            expect=()
        fi
        if ! $PY bench/nn_bench.py "$spec" --threads "$THREADS" --seconds "$SECONDS_PER" "${expect[@]}" \
            >"$TMP/p" 2>"$TMP/perr"; then
            echo "{\"impl\": \"pytorch\", \"spec\": \"$spec\", \"error\": $($PY -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read().strip()[-300:] or "failed"))' "$TMP/perr")}" >"$TMP/p"
        fi
        cat "$TMP/c" >>"$TMP/rows"
        cat "$TMP/p" >>"$TMP/rows"
        [ -n "${BENCH_JSON:-}" ] && cat "$TMP/c" "$TMP/p" >>"$BENCH_JSON"
    done
done

$PY - "$TMP/sgemm" "$TMP/sgemm1" "$TMP/rows" "$THREADS" <<'PY'
import json, statistics, sys
sg = json.load(open(sys.argv[1])) or {}
sg1 = json.load(open(sys.argv[2])) or {}
rows = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
threads = int(sys.argv[4])
TARGET = {"resnet:n=1,w=4": 3.0, "resnet20": 1.0, "resnet34:w=16": 1.0, "densenet:depth=100,k=12": 3.0}
ceiling = sg.get("gflops")
print("sgemm ceiling (OpenBLAS %s, core %s, 2048^3): %s GFLOP/s at %s threads, %s at 1 thread"
      % (sg.get("blas_config", "?").split()[1] if sg.get("blas_config") else "?", sg.get("blas_core", "?"),
         "%.1f" % ceiling if ceiling else "?", sg.get("threads", "?"),
         "%.1f" % sg1["gflops"] if sg1.get("gflops") else "?"))
torch_rows = [r for r in rows if r.get("impl") == "pytorch" and "error" not in r]
if torch_rows:
    t = torch_rows[0]
    print("PyTorch %s: %s, %s, BLAS %s, %s parallel; %d threads" % (
        t["torch"], t["onednn"] + (" (enabled)" if t["mkldnn_enabled"] else " (disabled)"),
        "ISA " + t["isa"], t["blas"], t["parallel"], t["threads"]))
print("sgdscape: OpenMP %d threads over the batch, BLAS single-threaded inside; medians of per-step times\n" % threads)
hdr = ("model", "params", "ours img/s", "torch img/s", "ratio", "target", "GF/s ours", "GF/s torch",
       "%ceil ours", "%ceil torch", "MB ours", "MB torch", "steps")
fmt = "%-24s %9s %10s %11s %7s %7s %9s %10s %10s %11s %8s %8s %7s"
print(fmt % hdr)
order = []
for r in rows:
    if r["spec"] not in order:
        order.append(r["spec"])
for spec in order:
    cs = [r for r in rows if r["spec"] == spec and r["impl"] == "sgdscape"]
    ps = [r for r in rows if r["spec"] == spec and r["impl"] == "pytorch"]
    cok = [r for r in cs if "error" not in r]
    pok = [r for r in ps if "error" not in r]
    ci = statistics.median(r["img_per_s"] for r in cok) if cok else None
    pi = statistics.median(r["img_per_s"] for r in pok) if pok else None
    flops = pok[0]["train_flops_per_img"] if pok else None
    params = str(cok[0]["params"]) if cok else (str(pok[0]["params"]) if pok else "?")
    def f(v, form):
        return form % v if v is not None else "-"
    gc = ci * flops / 1e9 if ci and flops else None
    gp = pi * flops / 1e9 if pi and flops else None
    tgt = TARGET.get(spec)
    ratio = ci / pi if ci and pi else None
    mark = "" if ratio is None or tgt is None else (" ok" if ratio >= tgt else " SHORT")
    print(fmt % (spec, params, f(ci, "%.1f"), f(pi, "%.1f"), f(ratio, "%.2fx"),
                 f(tgt, ">=%.0fx") if tgt else "-", f(gc, "%.1f"), f(gp, "%.1f"),
                 f(gc / ceiling * 100 if gc and ceiling else None, "%.1f%%"),
                 f(gp / ceiling * 100 if gp and ceiling else None, "%.1f%%"),
                 f(max(r["vm_hwm_kb"] for r in cok) / 1024 if cok else None, "%.0f"),
                 f(max(r["vm_hwm_kb"] for r in pok) / 1024 if pok else None, "%.0f"),
                 "%s/%s" % (sum(len(r["step_s"]) for r in cok), sum(len(r["step_s"]) for r in pok)))
          + mark)
    for r in cs + ps:
        if "error" in r:
            who = "sgdscape engine cannot build/run it" if r["impl"] == "sgdscape" else "PyTorch side failed"
            print("    %s: %s" % (who, r["error"].splitlines()[-1] if r["error"] else "?"))
print("\nGF/s = (3 x forward conv+linear FLOPs per image, PyTorch hooks) x img/s; %ceil against the sgemm line;")
print("MB = VmHWM of that model's process (PyTorch's includes ~230 MB for the interpreter and libtorch).")
PY
