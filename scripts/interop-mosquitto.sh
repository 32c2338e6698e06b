#!/usr/bin/env bash
# Interoperability of `tern serve` with Debian's Mosquitto command-line
# clients (mosquitto_pub, mosquitto_sub) over MQTT 3.1, 3.1.1 and 5.0:
# QoS 0/1/2, retained messages, wills, persistent sessions, wildcards and
# MQTT 5 properties set with -D. Each case prints PASS or FAIL; the last
# line is "interop: N passed, M failed" and the exit status is non-zero
# when M > 0.
#
# Without the clients the script is skipped (exit 0), except with CI=true,
# where it fails. Install them with: apt-get install mosquitto-clients
set -uo pipefail
cd "$(dirname "$0")/.."

for c in mosquitto_pub mosquitto_sub; do
  if ! command -v "$c" >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then
      echo "interop: $c not found; install mosquitto-clients (CI=true, so this is a failure)" >&2
      exit 1
    fi
    echo "interop: skipped: $c not found (apt-get install mosquitto-clients)"
    exit 0
  fi
done

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Every wait is a poll with a deadline.
deadline_secs=10

# wait_for FILE PATTERN: poll until FILE has a line matching PATTERN.
wait_for() {
  local end=$((SECONDS + deadline_secs))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.02
  done
}

# wait_exit PID: wait until the process ends (killing it at the deadline).
wait_exit() {
  local end=$((SECONDS + deadline_secs))
  while kill -0 "$1" 2>/dev/null; do
    if [ "$SECONDS" -ge "$end" ]; then
      kill "$1" 2>/dev/null
      return 1
    fi
    sleep 0.02
  done
  wait "$1" 2>/dev/null
  return 0
}

echo "interop: building tern"
if ! go build -o "$work/tern" ./cmd/tern; then
  echo "interop: build failed"
  echo "interop: 0 passed, 1 failed"
  exit 1
fi
# Port 0: the kernel picks a free port, read back from the start-up log.
"$work/tern" serve --listen 127.0.0.1:0 --log-level "${TERN_LOG_LEVEL:-info}" >"$work/tern.log" 2>&1 &
tern_pid=$!
pids+=("$tern_pid")
if ! wait_for "$work/tern.log" 'listen='; then
  cat "$work/tern.log"
  echo "interop: tern serve did not start"
  echo "interop: 0 passed, 1 failed"
  exit 1
fi
host=127.0.0.1
port=$(grep -o 'listen=[a-z]*:*/*[0-9.]*:[0-9]*' "$work/tern.log" | head -1 | sed 's/.*://')
echo "interop: tern serve on $host:$port; $(mosquitto_pub --help 2>&1 | grep -o 'mosquitto_pub version [0-9.]*')"

pub() { timeout "$deadline_secs" mosquitto_pub -h "$host" -p "$port" "$@"; }

# Message lines of mosquitto_sub are printed with this format, debug lines
# (-d) around them tell when the subscription is in place (stdbuf: line
# buffered, so they can be read while it runs).
fmt='MSG|%t|%q|%r|%p'

# sub_start NAME ARGS...: start mosquitto_sub in the background, output in
# $work/NAME.out, and wait for its SUBACK. Sets sub_pid.
sub_start() {
  local name=$1
  shift
  rm -f "$work/$name.out" # the parent removes it: the child's redirection runs later
  stdbuf -oL mosquitto_sub -h "$host" -p "$port" -d -F "$fmt" "$@" >"$work/$name.out" 2>&1 &
  sub_pid=$!
  pids+=("$sub_pid")
  if ! wait_for "$work/$name.out" 'received SUBACK'; then
    echo "mosquitto_sub $* did not subscribe:"
    cat "$work/$name.out"
    return 1
  fi
}

# msgs NAME: the messages a subscriber printed.
msgs() { grep '^MSG|' "$work/$1.out" 2>/dev/null; }

# expect NAME WANT: after the subscriber ended, its messages are WANT
# (newline-separated).
expect() {
  local got
  got=$(msgs "$1")
  if [ "$got" != "$2" ]; then
    printf '    got:  %s\n    want: %s\n' "${got//$'\n'/ ; }" "${2//$'\n'/ ; }"
    return 1
  fi
}

# expect_set NAME WANT: the same, in any order. For messages of different
# publishers, which the server need not forward in the order they were
# acknowledged.
expect_set() {
  local got want
  got=$(msgs "$1" | sort)
  want=$(sort <<<"$2")
  if [ "$got" != "$want" ]; then
    printf '    got:  %s\n    want: %s\n' "${got//$'\n'/ ; }" "${want//$'\n'/ ; }"
    return 1
  fi
}

passed=0
failed=0
run() {
  local name=$1
  shift
  local logged
  logged=$(wc -l <"$work/tern.log")
  if "$@" >"$work/case.log" 2>&1; then
    passed=$((passed + 1))
    echo "PASS $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/    /' "$work/case.log" | tail -20
    echo "    server log during the case:"
    tail -n +$((logged + 1)) "$work/tern.log" | tail -40 | sed 's/^/    | /'
  fi
}

# QoS: publish and subscribe at QoS q; the delivery QoS is the lower of the
# two. The publisher's debug output shows the acknowledgement flow.
case_qos() {
  local v=$1 pq=$2 sq=$3 t="interop/$1/qos/$2$3"
  sub_start "qos-$v-$pq$sq" -V "$v" -q "$sq" -t "$t" -C 1 || return 1
  pub -V "$v" -d -q "$pq" -t "$t" -m "hello $pq" >"$work/pub.out" 2>&1 || { cat "$work/pub.out"; return 1; }
  case $pq in
    1) grep -q 'received PUBACK' "$work/pub.out" || { echo "no PUBACK"; return 1; } ;;
    2) grep -q 'received PUBREC' "$work/pub.out" && grep -q 'received PUBCOMP' "$work/pub.out" ||
      { echo "no PUBREC/PUBCOMP"; return 1; } ;;
  esac
  wait_exit "$sub_pid" || { echo "subscriber did not get the message"; return 1; }
  expect "qos-$v-$pq$sq" "MSG|$t|$((pq < sq ? pq : sq))|0|hello $pq"
}

# probe V TOPIC: subscribe at QoS 1, then publish a live marker; prints the
# first message received. A retained message comes first: the server queues
# it before the SUBACK that the marker waits for.
probes=0
probe() {
  probes=$((probes + 1))
  sub_start "probe$probes" -V "$1" -q 1 -t "$2" -C 1 || return 1
  pub -V "$1" -q 1 -t "$2" -m marker || return 1
  wait_exit "$sub_pid" || return 1
  msgs "probe$probes"
}

# eventually WANT CMD...: retry CMD until it prints WANT (the server may
# acknowledge a publication just before it updates the retained store).
eventually() {
  local want=$1 got end=$((SECONDS + deadline_secs))
  shift
  while :; do
    got=$("$@")
    [ "$got" = "$want" ] && return 0
    if [ "$SECONDS" -ge "$end" ]; then
      printf '    got:  %s\n    want: %s\n' "$got" "$want"
      return 1
    fi
    sleep 0.05
  done
}

# Retained: set, replace (new subscribers get the latest, with RETAIN 1),
# live delivery to an existing subscriber (RETAIN 0), clear.
case_retained() {
  local v=$1 t="interop/$1/retained"
  pub -V "$v" -q 1 -r -t "$t" -m v1 || return 1
  pub -V "$v" -q 1 -r -t "$t" -m v2 || return 1
  eventually "MSG|$t|1|1|v2" probe "$v" "$t" || return 1
  sub_start "ret-live-$v" -V "$v" -q 1 -t "$t" -C 2 || return 1
  pub -V "$v" -q 1 -r -t "$t" -m v3 || return 1
  wait_exit "$sub_pid" || return 1
  expect "ret-live-$v" "MSG|$t|1|1|v2
MSG|$t|1|0|v3" || return 1
  pub -V "$v" -q 1 -r -n -t "$t" || return 1
  eventually "MSG|$t|1|0|marker" probe "$v" "$t"
}

# Will: published when the client's connection ends without DISCONNECT
# (the client is killed), not after a normal DISCONNECT.
case_will() {
  local v=$1 t="interop/$1/will"
  sub_start "will-$v" -V "$v" -q 1 -t "$t/#" -C 1 || return 1
  rm -f "$work/willer-$v.out"
  stdbuf -oL mosquitto_sub -h "$host" -p "$port" -V "$v" -d -i "interop-will-$v" -t "$t/unused" \
    --will-topic "$t/w" --will-payload gone --will-qos 1 >"$work/willer-$v.out" 2>&1 &
  local willer=$!
  pids+=("$willer")
  wait_for "$work/willer-$v.out" 'received SUBACK' || { echo "the will client did not connect"; return 1; }
  kill -9 "$willer"
  wait_exit "$sub_pid" || { echo "no will"; return 1; }
  expect "will-$v" "MSG|$t/w|1|0|gone"
}

# A will would be routed as the client's connection ends, before the
# next client (the marker's publisher) has even started.
case_no_will() {
  local v=$1 t="interop/$1/nowill"
  sub_start "nowill-$v" -V "$v" -q 1 -t "$t/#" -C 2 || return 1
  pub -V "$v" -q 1 -t "$t/x" -m normal --will-topic "$t/w" --will-payload bad --will-qos 1 || return 1
  pub -V "$v" -q 1 -t "$t/marker" -m marker || return 1
  wait_exit "$sub_pid" || { msgs "nowill-$v"; return 1; }
  expect_set "nowill-$v" "MSG|$t/x|1|0|normal
MSG|$t/marker|1|0|marker"
}

# Persistent session: subscribe with -c (clean session 0; with MQTT 5 a
# session expiry that never ends), go away, messages are published, come
# back with the same client identifier and receive them in order.
case_persistent() {
  local v=$1 t="interop/$1/persist" id="interop-persist-$1"
  timeout "$deadline_secs" mosquitto_sub -h "$host" -p "$port" -V "$v" -c -i "$id" -q 2 -t "$t/#" -E ||
    { echo "first subscription failed"; return 1; }
  printf 'one\ntwo\n' | pub -V "$v" -q 1 -t "$t/a" -l || { echo "publish failed"; return 1; }
  pub -V "$v" -q 2 -t "$t/b" -m three || { echo "publish failed"; return 1; }
  sub_start "persist-$v" -V "$v" -c -i "$id" -q 2 -t "$t/#" -C 3 || { echo "second subscription failed"; return 1; }
  wait_exit "$sub_pid" || { msgs "persist-$v"; echo "queued messages missing"; return 1; }
  expect_set "persist-$v" "MSG|$t/a|1|0|one
MSG|$t/a|1|0|two
MSG|$t/b|2|0|three" || return 1
  # One publisher, one topic: in order [MQTT-4.6.0-6].
  [ "$(msgs "persist-$v" | grep -v three)" = "MSG|$t/a|1|0|one
MSG|$t/a|1|0|two" ] || { echo "one and two out of order"; return 1; }
  # A clean session removes it.
  timeout "$deadline_secs" mosquitto_sub -h "$host" -p "$port" -V "$v" -i "$id" -t "$t/#" -E
}

# Wildcards: + and #, and a filter starting with a wildcard does not match
# a topic starting with $ ([MQTT-4.7.2-1]). Each subscriber stops after the
# number of messages it should get, the last publication (a marker)
# included: one it should not get takes the place of one it should.
case_wildcards() {
  local v=$1 t="interop/$1/wc" plus hash sys
  sub_start "plus-$v" -V "$v" -q 1 -t "$t/+/x" -C 2 || return 1
  plus=$sub_pid
  sub_start "hash-$v" -V "$v" -q 1 -t '#' -R -C 4 || return 1
  hash=$sub_pid
  sub_start "sys-$v" -V "$v" -q 1 -t "\$SYS/interop-$v/#" -t "$t/m/x" -C 2 || return 1
  sys=$sub_pid
  pub -V "$v" -q 1 -t "$t/a/x" -m 1 || return 1
  pub -V "$v" -q 1 -t "$t/b" -m 2 || return 1
  pub -V "$v" -q 1 -t "$t/a/x/y" -m 3 || return 1
  pub -V "$v" -q 1 -t "\$SYS/interop-$v/test" -m 4 || return 1
  pub -V "$v" -q 1 -t "$t/m/x" -m marker || return 1
  wait_exit "$plus" || { msgs "plus-$v"; echo "+ subscriber incomplete"; return 1; }
  wait_exit "$hash" || { msgs "hash-$v"; echo "# subscriber incomplete"; return 1; }
  wait_exit "$sys" || { msgs "sys-$v"; echo "\$SYS subscriber incomplete"; return 1; }
  expect_set "plus-$v" "MSG|$t/a/x|1|0|1
MSG|$t/m/x|1|0|marker" || return 1
  expect_set "hash-$v" "MSG|$t/a/x|1|0|1
MSG|$t/b|1|0|2
MSG|$t/a/x/y|1|0|3
MSG|$t/m/x|1|0|marker" || return 1
  expect_set "sys-$v" "MSG|\$SYS/interop-$v/test|1|0|4
MSG|$t/m/x|1|0|marker"
}

# MQTT 5 properties set with -D reach the subscriber: user properties
# (repeated, in order), response topic, correlation data, content type,
# payload format indicator.
case_v5_properties() {
  local t=interop/v5/props
  rm -f "$work/props.out"
  stdbuf -oL mosquitto_sub -h "$host" -p "$port" -V mqttv5 -d -q 1 -t "$t" -C 1 \
    -F 'MSG|%t|%P|%R|%D|%C|%F|%p' >"$work/props.out" 2>&1 &
  sub_pid=$!
  pids+=("$sub_pid")
  wait_for "$work/props.out" 'received SUBACK' || return 1
  pub -V mqttv5 -q 1 -t "$t" -m payload \
    -D publish user-property k v1 -D publish user-property a x -D publish user-property k v2 \
    -D publish response-topic interop/v5/reply -D publish correlation-data corr-7 \
    -D publish content-type text/plain -D publish payload-format-indicator 1 || return 1
  wait_exit "$sub_pid" || return 1
  expect props "MSG|$t|k:v1 a:x k:v2|interop/v5/reply|corr-7|text/plain|1|payload"
}

# MQTT 5 subscription identifier given with -D subscribe.
case_v5_subscription_id() {
  local t=interop/v5/subid
  rm -f "$work/subid.out"
  stdbuf -oL mosquitto_sub -h "$host" -p "$port" -V mqttv5 -d -q 1 -t "$t/#" -C 1 \
    -D subscribe subscription-identifier 42 -F 'MSG|%t|%S|%p' >"$work/subid.out" 2>&1 &
  sub_pid=$!
  pids+=("$sub_pid")
  wait_for "$work/subid.out" 'received SUBACK' || return 1
  pub -V mqttv5 -q 1 -t "$t/x" -m hi || return 1
  wait_exit "$sub_pid" || return 1
  expect subid "MSG|$t/x|42|hi"
}

for v in mqttv31 mqttv311 mqttv5; do
  for pq in 0 1 2; do
    for sq in 0 1 2; do
      run "$v QoS: publish QoS $pq, subscription QoS $sq" case_qos "$v" "$pq" "$sq"
    done
  done
done
for v in mqttv311 mqttv5; do
  run "$v retained: set, replace, live, clear" case_retained "$v"
  run "$v will on abnormal close" case_will "$v"
  run "$v no will after DISCONNECT" case_no_will "$v"
  run "$v persistent session (-c -i): queued while offline" case_persistent "$v"
  run "$v wildcards: +, #, \$SYS not matched by #" case_wildcards "$v"
done
run "mqttv5 user properties, response topic, correlation data (-D)" case_v5_properties
run "mqttv5 subscription identifier (-D subscribe)" case_v5_subscription_id

if ! kill -0 "$tern_pid" 2>/dev/null; then
  echo "FAIL tern serve exited during the run"
  failed=$((failed + 1))
  cat "$work/tern.log"
fi
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
