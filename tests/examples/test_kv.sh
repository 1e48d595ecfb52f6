#!/usr/bin/env bash
# test_kv.sh — examples/kv_server and examples/kv_client, built by the top-level examples glob,
# run against each other as two processes on 127.0.0.1: the server binds port 0 and prints the
# address it got, the client takes it as an argument. Asserts what the client prints and its exit
# status for put / get / del / not found, the server's timestamped request log (AU_LOG=user=info),
# its graceful stop on SIGTERM and on SIGINT, and what the client says when the server is down.
#
#   test_kv.sh <kv_server> <kv_client>
# Exit status: 0 pass, 1 fail, 2 usage.
set -u -o pipefail
if [[ $# -ne 2 ]]; then
    echo "usage: $0 <kv_server> <kv_client>" >&2
    exit 2
fi
server_bin=$1 client_bin=$2
work=$(mktemp -d)
server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
rc=0
fail() { echo "FAIL: $*"; rc=1; }

# Starts server number $1; sets server_pid, addr once it printed its address (10 s at most), and
# server_out / server_err, its output files (new ones for each server: the background job may
# create its files only after this function first reads them).
start_server() {
    server_out=$work/server$1.out server_err=$work/server$1.err
    AU_LOG=user=info "$server_bin" >"$server_out" 2>"$server_err" &
    server_pid=$!
    addr=
    for _ in $(seq 1000); do
        addr=$(sed -n 's/^kv_server: listening on //p' "$server_out" 2>/dev/null)
        [[ -n $addr ]] && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.01
    done
    echo "FAIL: kv_server printed no address; its output:"
    cat "$server_out" "$server_err"
    exit 1
}

# Waits (10 s at most) for the server to exit; sets server_status.
wait_server() {
    for _ in $(seq 1000); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.01
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        fail "kv_server did not stop within 10 s of the signal"
        kill -KILL "$server_pid"
    fi
    wait "$server_pid"
    server_status=$?
    server_pid=
}

# client <want-status> <want-stdout> args...: runs the client, checks both. A server that is up
# answers in milliseconds; the client waits up to 10 s (unless args give --timeout), so a loaded
# machine does not turn an answer into a timeout.
client() {
    local want_status=$1 want_out=$2
    shift 2
    local out status
    [[ $1 == --timeout ]] || set -- --timeout 10000 "$@"
    out=$(timeout 30 "$client_bin" "$@" 2>"$work/client.err")
    status=$?
    [[ $status -eq $want_status ]] ||
        fail "kv_client $*: exit $status, want $want_status (stderr: $(cat "$work/client.err"))"
    [[ $out == "$want_out" ]] || fail "kv_client $*: printed '$out', want '$want_out'"
}

start_server 1
[[ $addr =~ ^127\.0\.0\.1:[1-9][0-9]*$ ]] || fail "server address '$addr' is not 127.0.0.1:<port>"

client 0 "color = blue (new)" "$addr" put color blue
client 0 "color = red (was blue)" "$addr" put color red
client 0 "color = red" "$addr" get color
client 1 "shape: not found" "$addr" get shape
client 0 "size = large words here (new)" "$addr" put size "large words here"
client 0 "size: deleted (was large words here)" "$addr" del size
client 1 "size: not found" "$addr" del size
client 0 "color = red" --timeout 5000 "$addr" get color
client 2 "" "$addr" frobnicate color
client 2 "" "$addr" put color
client 4 "" "not-an-address" get color

# Every request logged by the server, on stderr, with a UTC timestamp.
stamp='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z'
for want in "put color \(new\)" "put color \(replaces\)" "get color \(found\)" \
            "get shape \(not found\)" "del size \(found\)" "del size \(not found\)"; do
    grep -Eq "^$stamp INFO  user kv_server\.c:[0-9]+ $want\$" "$server_err" ||
        fail "no log line '$want' in the server's stderr"
done

kill -TERM "$server_pid"
wait_server
[[ $server_status -eq 0 ]] || fail "kv_server exited $server_status after SIGTERM, want 0"
want_out="kv_server: listening on $addr
kv_server: SIGTERM, stopping
kv_server: served 8 requests, 1 keys held"
[[ $(cat "$server_out") == "$want_out" ]] ||
    fail "kv_server printed '$(cat "$server_out")', want '$want_out'"

# The server is down: the ask times out, and the client says so.
start=$(date +%s%N)
out=$(timeout 20 "$client_bin" --timeout 300 "$addr" get color 2>"$work/client.err")
status=$? elapsed_ms=$((($(date +%s%N) - start) / 1000000))
[[ $status -eq 3 ]] || fail "kv_client against a stopped server: exit $status, want 3"
[[ -z $out ]] || fail "kv_client against a stopped server printed '$out' on stdout"
grep -Eq "^kv_client: no answer from $addr within 300 ms \([1-9][0-9]* datagram\(s\) sent there, none answered\): is kv_server running there\?\$" \
    "$work/client.err" || fail "kv_client against a stopped server said: $(cat "$work/client.err")"
((elapsed_ms >= 300)) || fail "kv_client gave up after $elapsed_ms ms, before its 300 ms timeout"

# Ctrl-C stops it as gracefully.
start_server 2
client 0 "k = v (new)" "$addr" put k v
kill -INT "$server_pid"
wait_server
[[ $server_status -eq 0 ]] || fail "kv_server exited $server_status after SIGINT, want 0"
grep -qx "kv_server: SIGINT, stopping" "$server_out" || fail "no 'SIGINT, stopping' line"
grep -qx "kv_server: served 1 requests, 1 keys held" "$server_out" || fail "no served line"

[[ $rc -eq 0 ]] && echo "ok: kv_server and kv_client on $addr: answers, not found, server log, SIGTERM, SIGINT, server down"
exit $rc
