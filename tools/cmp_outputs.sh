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
)
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
    if isinstance(o,dict): return {k:strip(v) for k,v in o.items() if not any(w in k for w in ("time","second","elapsed","wall","date","host","version","command","rate","argv","out","created"))}
    if isinstance(o,list): return [strip(v) for v in o]
    return o
a=strip(json.load(open(sys.argv[1]))); b=strip(json.load(open(sys.argv[2])))
sys.exit(0 if a==b else 1)
PY
      ;;
    *) cmp -s "$T/old/r$i/$f" "$T/new/r$i/$f" || { echo "DIFF $f: $c"; fail=1; } ;;
    esac
  done
done
echo "compared $i commands: $([ $fail = 0 ] && echo identical || echo DIFFERENCES)"; rm -rf "$T"; exit $fail
