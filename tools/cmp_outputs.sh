#!/bin/bash
# Usage: cmp_outputs.sh OLD_BIN NEW_BIN  -- runs a fixed list of commands with both binaries
# and compares every output file byte for byte (manifest.json/summary.json: timing fields removed).
OLD=$1; NEW=$2; T=$(mktemp -d); mkdir -p "$T/old" "$T/new"; fail=0
cmds=(
 "fig3 --trials 20 --steps 2000"
 "run --f spiky --trials 30 --steps 3000 --eta 0.01 --level 0.1 --record-every 500"
 "run --f rastrigin --d 3 --noise cube --trials 10 --steps 500 --schedule stages:200@0.05,300@0.01"
 "run --f quadratic --d 2 --noise gauss --trials 10 --steps 400 --schedule exp:0.999 --momentum 0.5"
 "run --f (x-1)^2+0.1*sin(20*x) --trials 10 --steps 300 --level 0.05"
 "smooth --f spiky --n 101"
 "smooth --f spiky --method quad --n 51 --compare"
 "smooth --f rastrigin --d 3 --method mc --samples 2000 --at 0.1;0.5"
 "smooth --f spiky --d 2 --noise cube --method mc --samples 3000 --at 0.2,0.1;0.3,0.3 --interval hoeffding"
 "smooth --f spiky --d 2 --method quad --n 11"
 "check --f spiky --points 200"
 "check --f spiky --grid -1.5:1.5 --points 101"
 "check --f rastrigin --d 3 --method mc --samples 500 --points 50"
 "check --f spiky --points 100 --scan-eta 0.005,0.01,0.02"
 "verify --trials 50 --T2 200"
 "verify --f quadratic --d 3 --noise cube --trials 30 --T2 100 --start -1:1"
 "bounds --eta 0.01 --c 1 --L 2 --r 1"
 "bounds --stages 0.1:1:1,0.05:1:1 --L 2"
 "smooth --f spiky --d 5 --noise cube --method mc --samples 3000 --at 0.1;0.7"
 "smooth --f spiky --d 5 --noise cube --method mc --samples 3000 --at 0.3 --no-grad"
 "smooth --f rastrigin --d 7 --noise cube --method mc --samples 3000 --at 0.2 --no-grad"
 "smooth --f styblinski-tang --d 3 --noise cube --method mc --samples 2000 --at 0.5 --grad-only"
 "smooth --f rastrigin --d 200 --noise cube --method mc --samples 500 --at 0.1"
 "smooth --f rastrigin --d 200 --noise cube --method mc --samples 500 --at 0.1 --no-grad"
 "smooth --f spiky --d 200 --noise cube --method mc --samples 500 --at 0.1 --no-grad"
 "smooth --f double-well --d 130 --noise cube --method mc --samples 300 --at 0.4 --grad-only"
 "smooth --f rastrigin --d 5000 --noise cube --method mc --samples 100 --at 0.1"
 "smooth --f rastrigin --d 5000 --noise cube --method mc --samples 100 --at 0.1 --no-grad"
 "smooth --f spiky --d 5000 --noise cube --method mc --samples 100 --at 0.1 --no-grad"
 "smooth --f styblinski-tang --d 5000 --noise cube --method mc --samples 100 --at 0.2 --grad-only"
 "smooth --f double-well --d 3 --noise gauss --method mc --samples 2000 --at 0.3"
 "smooth --f quadratic:cond=10 --d 4 --noise cube --method mc --samples 2000 --at 0.3"
 "smooth --f ackley --d 3 --noise cube --method mc --samples 2000 --at 0.3 --interval hoeffding"
 "smooth --f spiky --d 3 --noise ball --method mc --samples 2000 --at 0.2"
 "smooth --f rastrigin --d 3 --noise cube --method mc --tol 0.05 --at 0.1"
 "smooth --f rastrigin --d 3 --noise cube --method mc --tol 0.5 --interval hoeffding --at 0.1"
 "smooth --f rastrigin --d 2 --noise gauss --method quad --n 7"
 "smooth --f spiky --d 2 --noise cube --method quad --n 7"
 "smooth --f spiky --d 2 --noise gauss --method quad --n 5 --gauss-sigmas 0"
 "smooth --f double-well --noise gauss --method quad --n 21"
 "smooth --f sharp-flat --noise gauss --n 51 --compare"
 "smooth --f styblinski-tang --n 51 --compare"
 "smooth --f rastrigin --d 2 --noise cube --n 9 --compare"
 "smooth --f spiky:w1=70 --n 51 --compare"
 "run --f styblinski-tang --d 2 --noise cube --trials 10 --steps 300"
 "run --f double-well --d 4 --noise gauss --trials 10 --steps 300 --level 0.05"
 "run --f spiky --trials 40 --steps 3000 --eta 0.01 --level 0.03 --stop-radius 0.05 --start -0.5:0.5"
 "run --f quadratic --d 3 --noise cube --trials 12 --steps 400 --level 0.02 --stop-radius 0.3"
 "run --f rastrigin --d 2 --noise gauss --trials 10 --steps 300 --level 0.05"
 "run --f spiky --d 3 --noise none --trials 9 --steps 500 --eta 0.01 --record-every 7"
 "run --f rastrigin --trials 20 --steps 500 --level 0.1"
 "run --f spiky --d 3 --noise cube --trials 10 --steps 500 --level 0.05"
 "run --f spiky:w1=70 --trials 20 --steps 500 --level 0.05"
 "run --f quadratic --d 2 --noise cube --trials 7 --steps 333 --momentum 0.9 --level 0.1"
 "run --f sharp-flat --trials 10 --steps 300 --level 0.05"
 "run --f spiky --trials 30 --steps 1001 --stop-radius 0.05 --level 0.1"
 "run --f spiky --d 2 --trials 30 --steps 1001 --stop-radius 0.3 --level 0.1 --noise cube"
 "run --f spiky --trials 30 --steps 1001 --momentum 0.9 --eta 0.005 --level 0.1"
 "run --f spiky --trials 30 --steps 1001 --momentum 0.5 --stop-radius 0.05 --level 0.1"
 "check --f rastrigin --points 50"
 "check --f spiky --points 100 --scan-level 0.02,0.15,0.3 --box -4:4 --exclude 0.1"
 "check --f spiky --points 100 --scan-eta 0.005:0.02:3"
 "check --f rastrigin --d 2 --grid -1:1 --points 15"
 "check --f quadratic --d 3 --ball 2 --center 0.1 --points 80"
 "check --f spiky --points 60 --method mc --samples 400 --interval hoeffding"
 "smooth --f spiky --method mc --samples 500 --n 21 --compare"
 "smooth --f quadratic --d 2 --noise cube --n 9 --compare --no-grad"
 "verify --f quadratic --d 2 --c 1 --L 1 --trials 40 --T2 150 --x0 3,4"
 "verify --f double-well --trials 30 --T2 100 --start 0.5:1.5 --thm3-factor 2"
 "grad --model mlp:w=8,d=1 --weights $T/w/x.npy --data fashion-mnist --subset 200 --batches 2"
 "train --model mlp:w=8,d=1 --data fashion-mnist --subset 200 --val-subset 100 --epochs 1 --quiet --seed 3"
)
# weights for the grad command (the new binary's; both read the same file)
"$NEW" train --model mlp:w=8,d=1 --data fashion-mnist --subset 200 --val-subset 100 --epochs 1 --quiet --out "$T/w" >/dev/null 2>&1
i=0
for c in "${cmds[@]}"; do
  i=$((i+1))
  read -ra args <<<"$c"
  # formulas with spaces/semicolons: pass as one argument
  "$OLD" "${args[@]}" --threads 2 --out "$T/old/r$i" >"$T/o$i.stdout" 2>/dev/null; r1=$?
  "$NEW" "${args[@]}" --threads 2 --out "$T/new/r$i" >"$T/n$i.stdout" 2>/dev/null; r2=$?
  if [ $r1 -ne $r2 ]; then echo "DIFF rc $r1 vs $r2: $c"; fail=1; continue; fi
  norm() { sed -E 's/[0-9.]+ ?(s|ms)\b//g; s#/(old|new)/#/#g' "$1"; }
  norm "$T/o$i.stdout" > "$T/a"; norm "$T/n$i.stdout" > "$T/b"
  cmp -s "$T/a" "$T/b" || { echo "DIFF stdout: $c"; diff "$T/a" "$T/b" | head -4; fail=1; }
  [ -d "$T/old/r$i" ] || continue
  for f in $(cd "$T/old/r$i" && find . -type f | sort); do
    case "$f" in *manifest.json|*summary.json)
      /usr/bin/python3 - "$T/old/r$i/$f" "$T/new/r$i/$f" <<'PY' || { echo "DIFF $f: $c"; fail=1; }
import json,sys
def strip(o):
    if isinstance(o,dict): return {k:strip(v) for k,v in o.items() if not any(w in k for w in ("time","second","elapsed","wall","date","host","version","command","rate","argv","out","created","ranks"))}
    if isinstance(o,list): return [strip(v) for v in o]
    return o
a=strip(json.load(open(sys.argv[1]))); b=strip(json.load(open(sys.argv[2])))
sys.exit(0 if a==b else 1)
PY
      ;;
    *train.csv) # img_per_s and seconds (columns 8, 9) are timings
      cmp -s <(cut -d, -f1-7 "$T/old/r$i/$f") <(cut -d, -f1-7 "$T/new/r$i/$f") || { echo "DIFF $f: $c"; fail=1; } ;;
    *train.dat) # the same rows space-separated: img_per_s and seconds are the last two
      cmp -s <(awk '{NF-=2} 1' "$T/old/r$i/$f") <(awk '{NF-=2} 1' "$T/new/r$i/$f") || { echo "DIFF $f: $c"; fail=1; } ;;
    *) cmp -s "$T/old/r$i/$f" "$T/new/r$i/$f" || { echo "DIFF $f: $c"; fail=1; } ;;
    esac
  done
done
# commands without a run directory: stdout only
for c in "model --spec mlp:w=8,d=1 --in 1x28x28" "model --spec resnet20" "data info fashion-mnist --val 100 --val-random --seed 5 --subset 1000"; do
  i=$((i+1)); read -ra args <<<"$c"
  cmp -s <("$OLD" "${args[@]}" 2>&1) <("$NEW" "${args[@]}" 2>&1) || { echo "DIFF stdout: $c"; fail=1; }
done
echo "compared $i commands: $([ $fail = 0 ] && echo identical || echo DIFFERENCES)"; rm -rf "$T"; exit $fail
