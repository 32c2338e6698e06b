#!/usr/bin/env bash
# Side-by-side benchmark of Tern, mochi-mqtt, Mosquitto and a byte-copying
# relay (the machine's ceiling), all on loopback, measured with tern bench.
#
#   bench/compare.sh            # full: 3 runs of each scenario per broker
#   bench/compare.sh --quick    # 1 run, short durations
#   bench/compare.sh --runs 5 --brokers "tern mosquitto"
#   bench/compare.sh --scenarios "latency-q0 conns" --results DIR  # add to DIR
#   bench/compare.sh --scenarios persistent --no-doc   # Tern's durability modes
#
# Brokers are alternated run by run (A B C A B C ...), each measurement on a
# freshly started broker. The summary replaces the "Side by side" section of
# docs/benchmarks.md (--no-doc to leave it) and plots go to bench/plots/.
# Raw JSON results stay in the work directory printed at the start.
set -euo pipefail

ARGS="$*"
RUNS=3
DUR=10s
LADDER_DUR=5s
CONNS=10000
BROKERS="tern mochi mosquitto relay"
SCENARIOS="fanin-q0 fanout-q0 fanin-q1 fanin-q2 latency-q0 latency-q1 conns sustained"
RESULTS=
DOC=1
QUICK=0
while [[ $# -gt 0 ]]; do
	case "$1" in
	--quick) QUICK=1; RUNS=1; DUR=3s; LADDER_DUR=2s; CONNS=5000 ;;
	--runs) RUNS=$2; shift ;;
	--duration) DUR=$2; shift ;;
	--brokers) BROKERS=$2; shift ;;
	--scenarios) SCENARIOS=$2; shift ;;
	--results) RESULTS=$2; shift ;; # add to (and summarize) an earlier run's results
	--conns) CONNS=$2; shift ;;
	--no-doc) DOC=0 ;;
	-h | --help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --runs wants a positive number" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/tern-compare.XXXXXX)
RES=${RESULTS:-$WORK/results}
mkdir -p "$RES"
echo "work directory: $WORK" >&2
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- tools -----------------------------------------------------------------
(cd "$ROOT" && go build -o "$WORK/tern" ./cmd/tern && go build -o "$WORK/report" ./bench/report)
(cd "$ROOT/bench/mochi" && go build -o "$WORK/mochi" .)
if ! command -v mosquitto >/dev/null; then
	apt-get install -y mosquitto >/dev/null || { apt-get update >/dev/null && apt-get install -y mosquitto >/dev/null; }
fi
if ! command -v gnuplot >/dev/null; then
	apt-get install -y gnuplot-nox >/dev/null 2>&1 || echo "gnuplot not available: no plots" >&2
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
TERN=$WORK/tern
ulimit -n "$(ulimit -Hn)" || true

# --- brokers ---------------------------------------------------------------
declare -A PORT=([tern]=18830 [mochi]=18831 [mosquitto]=18833 [relay]=18834)
BPID=
start_broker() {
	local b=$1 log=$WORK/$1.log
	case $b in
	tern) "$TERN" serve --listen "127.0.0.1:${PORT[tern]}" --log-level warn >>"$log" 2>&1 & ;;
	mochi) "$WORK/mochi" -listen "127.0.0.1:${PORT[mochi]}" >>"$log" 2>&1 & ;;
	mosquitto) "$MOSQUITTO" -c "$ROOT/bench/mosquitto.conf" >>"$log" 2>&1 & ;;
	relay) "$TERN" bench relay --listen "127.0.0.1:${PORT[relay]}" >>"$log" 2>&1 & ;;
	*) echo "unknown broker $b" >&2; exit 2 ;;
	esac
	BPID=$!
	for _ in $(seq 100); do
		if "$TERN" bench conn -Q -c 1 --hold 0s -p "${PORT[$b]}" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	echo "$b did not start; see $log" >&2
	exit 1
}
stop_broker() {
	[[ -n $BPID ]] || return 0
	kill "$BPID" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$BPID" 2>/dev/null || break
		sleep 0.1
	done
	# A server that does not stop within 5 s of SIGTERM is killed.
	if kill -0 "$BPID" 2>/dev/null; then
		echo "  server $BPID ignored SIGTERM for 5 s: killed" >&2
		kill -9 "$BPID" 2>/dev/null || true
	fi
	wait "$BPID" 2>/dev/null || true
	BPID=
}
trap 'stop_broker' EXIT

# measure NAME BROKER RUN ARGS...: one tern bench run/conn on a fresh broker.
measure() {
	local name=$1 b=$2 run=$3
	shift 3
	start_broker "$b"
	local out=$RES/$name@$b@$run.json
	if ! "$TERN" bench "$@" -Q --json -p "${PORT[$b]}" --broker-pid "$BPID" >"$out" 2>"$out.err"; then
		echo "  $name on $b (run $run) failed: $(tail -1 "$out.err")" >&2
		rm -f "$out"
	fi
	stop_broker
}

# ladder BROKER RUN: fixed total rates of 10 publishers → 1 subscriber,
# QoS 0, climbing while loss < 1 % and p99 < 100 ms; a failed step is tried
# once more before the climb stops (the machine is shared and noisy).
LADDER="20000 50000 100000 150000 200000 300000 400000 600000 800000 1200000 1600000 2400000"
ladder() {
	local b=$1 run=$2 best=0 r try ok
	for r in $LADDER; do
		ok=0
		for try in 1 2; do
			start_broker "$b"
			local out=$RES/ladder-$r-$try@$b@$run.json
			"$TERN" bench run -Q --json -p "${PORT[$b]}" --broker-pid "$BPID" --pub 10 --sub 1 \
				-r $((r / 10)) -d "$LADDER_DUR" >"$out" 2>/dev/null || true
			stop_broker
			if "$WORK/report" pass "$out" 1 100; then ok=1; break; fi
		done
		[[ $ok == 1 ]] || break
		best=$r
	done
	echo "{\"sustained_per_second\": $best}" >"$RES/sustained@$b@$run.json"
	echo "  $b run $run: highest sustained fan-in QoS 0 rate $best msg/s" >&2
}

# --- scenarios -------------------------------------------------------------
scenario() { # scenario NAME ARGS... : every run, brokers alternated
	local name=$1 run b
	shift
	[[ " $SCENARIOS " == *" $name "* ]] || return 0
	echo "== $name: tern bench $*" >&2
	for run in $(seq "$RUNS"); do
		for b in $BROKERS; do measure "$name" "$b" "$run" "$@"; done
	done
}

scenario fanin-q0 run --pub 10 --sub 1 -q 0 -d "$DUR"
scenario fanout-q0 run --pub 1 --sub 100 -t bench/0 -q 0 -d "$DUR"
scenario fanin-q1 run --pub 10 --sub 1 -q 1 -d "$DUR"
scenario fanin-q2 run --pub 10 --sub 1 -q 2 -d "$DUR"
scenario latency-q0 run --pub 10 --sub 1 -r 1000 -q 0 -d "$DUR"
scenario latency-q1 run --pub 10 --sub 1 -r 1000 -q 1 -d "$DUR"
scenario conns conn -c "$CONNS" --concurrency 100 --hold 3s
if [[ " $SCENARIOS " == *" sustained "* ]]; then
	echo "== sustained fan-in QoS 0 (ladder: $LADDER msg/s, $LADDER_DUR each)" >&2
	for run in $(seq "$RUNS"); do
		for b in $BROKERS; do ladder "$b" "$run"; done
	done
fi

# persistent: Tern alone, QoS 1 flat-out from 10 publishers to 10 persistent
# subscribers (MQTT 5, one-hour sessions) that each take every publisher's
# messages, in the durability modes sync, memory and interval alternated run
# by run, the data directory under the work directory (check it is on a
# disk, not tmpfs). Not a default scenario; its summary (medians, min–max)
# is printed, not put into the document.
pmetric() { { grep -o "\"$1\": [0-9.e+]*" "$2" || true; } | head -1 | awk '{print $2}'; }
pmedian() { sort -g | awk '{v[NR]=$1} END {if (NR) printf "%.0f (%.0f–%.0f)", v[int((NR+1)/2)], v[1], v[NR]; else printf "-"}'; }
if [[ " $SCENARIOS " == *" persistent "* ]]; then
	PDIR=$RES/persistent
	mkdir -p "$PDIR"
	df -h "$WORK" | tail -1 >&2
	echo "== persistent: tern bench run --pub 10 --sub 10 -q 1 -d $DUR --session-expiry 1h (sync, memory, interval)" >&2
	for run in $(seq "$RUNS"); do
		for mode in sync memory interval; do
			rm -rf "$WORK/data"
			dur=(--data-dir "$WORK/data" --durability "$mode")
			[[ $mode == memory ]] && dur=()
			"$TERN" serve --listen "127.0.0.1:${PORT[tern]}" --admin-listen 127.0.0.1:18839 "${dur[@]}" \
				--log-level warn >>"$WORK/tern.log" 2>&1 &
			BPID=$!
			for _ in $(seq 100); do
				"$TERN" bench conn -Q -c 1 --hold 0s -p "${PORT[tern]}" >/dev/null 2>&1 && break
				sleep 0.1
			done
			out=$PDIR/$mode@$run.json
			"$TERN" bench run -Q --json -p "${PORT[tern]}" --broker-pid "$BPID" --pub 10 --sub 10 -q 1 -d "$DUR" \
				--session-expiry 1h --broker-metrics http://127.0.0.1:18839/metrics >"$out" 2>"$out.err" ||
				echo "  $mode run $run failed: $(tail -1 "$out.err")" >&2
			stop_broker
		done
	done
	echo "| mode | acknowledged msg/s | delivered msg/s | lost % | fsyncs/s | commits per fsync |"
	echo "|---|---:|---:|---:|---:|---:|"
	for mode in sync memory interval; do
		row="| $mode"
		for m in sent_per_second delivered_per_second loss_percent fsyncs_per_second commits_per_fsync; do
			row="$row | $(for f in "$PDIR/$mode"@*.json; do [[ -s $f ]] && pmetric "$m" "$f"; done | pmedian)"
		done
		echo "$row |"
	done
fi

# --- report ----------------------------------------------------------------
# Plots go next to the document only when it is updated.
PLOTS=$WORK/plots
[[ $DOC == 1 ]] && PLOTS=$ROOT/bench/plots
MODE="full ($RUNS runs, $DUR per scenario)"
[[ $QUICK == 1 ]] && MODE="quick ($RUNS run, $DUR per scenario)"
MODE="$MODE; load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg)"
"$WORK/report" summarize -dir "$RES" -brokers "$BROKERS" -mode "$MODE" -cmd "bench/compare.sh $ARGS" -conns "$CONNS" \
	-plots "$PLOTS" >"$WORK/summary.md"
cat "$WORK/summary.md"
if [[ $DOC == 1 ]]; then
	"$WORK/report" splice -doc "$ROOT/docs/benchmarks.md" -section "$WORK/summary.md"
	echo "docs/benchmarks.md updated" >&2
fi
