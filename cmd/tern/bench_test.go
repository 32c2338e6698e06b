package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/internal/brokertest"
	"github.com/tern-mq/tern/internal/loadgen"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store/pebble"
)

// startBroker runs an in-process broker on a loopback port.
func startBroker(t *testing.T) (*broker.Server, string) {
	t.Helper()
	srv, addr := brokertest.Start(t, broker.Config{})
	_, port, _ := net.SplitHostPort(addr)
	return srv, port
}

func runBench(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func benchJSON(t *testing.T, args ...string) *loadgen.Result {
	t.Helper()
	out, stderr, err := runBench(t, append([]string{"bench", "run", "--json", "-Q"}, args...)...)
	if err != nil {
		t.Fatalf("tern bench run: %v\n%s", err, stderr)
	}
	var res loadgen.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bad JSON %q: %v", out, err)
	}
	return &res
}

func checkOrdered(t *testing.T, l *loadgen.LatencyStats) {
	t.Helper()
	if l == nil {
		t.Fatal("no latency measured")
	}
	seq := []float64{l.Min, l.P50, l.P90, l.P99, l.P999, l.Max}
	for i := 1; i < len(seq); i++ {
		if seq[i] < seq[i-1] {
			t.Fatalf("latency percentiles out of order: %+v", *l)
		}
	}
	if l.Mean < l.Min || l.Mean > l.Max {
		t.Fatalf("mean outside [min, max]: %+v", *l)
	}
}

// QoS 1 on loopback at a fixed rate: every message is delivered to every
// subscriber once, the counts add up, percentiles are ordered.
func TestBenchRunQoS1Consistent(t *testing.T) {
	_, port := startBroker(t)
	for _, qos := range []string{"1", "2"} {
		res := benchJSON(t, "-p", port, "--pub", "3", "--sub", "2", "-q", qos, "-r", "400", "-d", "500ms", "-F", "20")
		if res.Sent == 0 || res.Acked != res.Sent {
			t.Fatalf("QoS %s: sent %d, acknowledged %d", qos, res.Sent, res.Acked)
		}
		if res.Expected != 2*res.Sent || res.Delivered != res.Expected || res.Lost != 0 {
			t.Fatalf("QoS %s: sent %d, expected %d, delivered %d, lost %d", qos, res.Sent, res.Expected, res.Delivered, res.Lost)
		}
		if res.Duplicates != 0 || res.Foreign != 0 {
			t.Fatalf("QoS %s: %d duplicates, %d foreign", qos, res.Duplicates, res.Foreign)
		}
		// 3 publishers at 400 msg/s for 0.5 s: about 600 messages.
		if res.Sent < 300 || res.Sent > 700 {
			t.Fatalf("QoS %s: sent %d at 3 × 400 msg/s for 0.5 s", qos, res.Sent)
		}
		if res.Connect.Connected != 5 || res.Connect.Failed != 0 {
			t.Fatalf("QoS %s: connect %+v", qos, res.Connect)
		}
		if res.Latency.Count != res.Delivered {
			t.Fatalf("QoS %s: %d latency samples for %d deliveries", qos, res.Latency.Count, res.Delivered)
		}
		checkOrdered(t, res.Latency)
	}
}

// Flat-out QoS 0 fan-in: every message the generator did not receive is one
// the broker counted as dropped.
func TestBenchRunQoS0LossIsCounted(t *testing.T) {
	srv, port := startBroker(t)
	res := benchJSON(t, "-p", port, "--pub", "4", "--sub", "1", "-d", "300ms", "--drain", "10s")
	if res.Sent == 0 || res.Duplicates != 0 {
		t.Fatalf("sent %d, duplicates %d", res.Sent, res.Duplicates)
	}
	if res.Delivered+res.Lost != res.Expected || res.Expected != res.Sent {
		t.Fatalf("sent %d expected %d delivered %d lost %d", res.Sent, res.Expected, res.Delivered, res.Lost)
	}
	if st := srv.Stats(); uint64(st.Dropped) != res.Lost {
		t.Fatalf("generator lost %d of %d, broker counted %d dropped (%+v)", res.Lost, res.Sent, st.Dropped, st)
	}
	checkOrdered(t, res.Latency)
}

func TestBenchConn(t *testing.T) {
	srv, port := startBroker(t)
	out, stderr, err := runBench(t, "bench", "conn", "-Q", "--json", "-p", port, "-c", "40", "-R", "2000", "--hold", "0s")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var res loadgen.ConnResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Connect.Connected != 40 || res.Connect.Failed != 0 || res.Dropped != 0 {
		t.Fatalf("%+v", res)
	}
	// 40 connections at 2000/s take at least 19.5 ms.
	if res.Connect.Seconds < 0.0195 || res.Connect.Rate > 2100 {
		t.Fatalf("40 connections at 2000/s in %.4f s (%.0f/s)", res.Connect.Seconds, res.Connect.Rate)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().Connections != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections still open after the run: %+v", srv.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A broker refusing the connection gives the CONNACK reason in words.
func TestBenchRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				p, _ := packet.ReadPacket(bufio.NewReader(nc), 0, 0)
				v := packet.V5
				if c, ok := p.(*packet.Connect); ok {
					v = c.Version
				}
				code := packet.NotAuthorized
				if v != packet.V5 {
					code = packet.ConnRefusedNotAuthorized311
				}
				b, _ := packet.Append(nil, &packet.Connack{ReasonCode: code}, v)
				nc.Write(b)
			}()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, tc := range []struct{ args, want []string }{
		{[]string{"bench", "run", "-Q", "-p", port}, []string{"not authorized", "0x87"}},
		{[]string{"bench", "run", "-Q", "-V", "4", "-p", port}, []string{"not authorized", "0x05"}},
		{[]string{"bench", "conn", "-Q", "-c", "3", "-p", port}, []string{"no connection to 127.0.0.1:" + port + " succeeded", "not authorized"}},
	} {
		_, _, err := runBench(t, tc.args...)
		if err == nil {
			t.Fatalf("%v: no error", tc.args)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%v: error %q lacks %q", tc.args, err, w)
			}
		}
	}
	// Nothing listening: connection refused.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := strconv.Itoa(ln2.Addr().(*net.TCPAddr).Port)
	ln2.Close()
	if _, _, err := runBench(t, "bench", "run", "-Q", "-p", closed); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("closed port: %v", err)
	}
}

func TestBenchFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "run", "-q", "3"}, "QoS must be 0, 1 or 2"},
		{[]string{"bench", "run", "-s", "8"}, "too small"},
		{[]string{"bench", "run", "-r", "-1"}, "must not be negative"},
		{[]string{"bench", "run", "-V", "6"}, "--protocol 6"},
		{[]string{"bench", "run", "-p", "70000"}, "-p 70000"},
		{[]string{"bench", "run", "--url", "http://x"}, "only mqtt://"},
		{[]string{"bench", "run", "--url", "mqtt://x", "-p", "1"}, "either --url or -h/-p"},
		{[]string{"bench", "run", "--pub", "0"}, "at least one publisher"},
		{[]string{"bench", "run", "-t", "a/+"}, "topic"},
		{[]string{"bench", "sub", "-t", "a/#/b"}, "filter"},
		{[]string{"bench", "pub", "-F", "0"}, "--inflight 0"},
		{[]string{"bench", "conn", "-c", "0"}, "at least one connection"},
		{[]string{"bench", "run", "-V", "4", "--session-expiry", "1h"}, "--session-expiry is MQTT 5"},
		{[]string{"bench", "sub", "--session-expiry", "-1s"}, "--session-expiry -1s"},
		{[]string{"bench", "run", "extra"}, "unknown command"},
	} {
		_, _, err := runBench(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// The relay delivers every QoS 1 message of a scenario.
func TestBenchRelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var r loadgen.Relay
		done <- r.Serve(ctx, ln)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, qos := range []string{"0", "1", "2"} {
		res := benchJSON(t, "-p", port, "--pub", "2", "--sub", "2", "-q", qos, "-r", "300", "-d", "300ms")
		if res.Sent == 0 || res.Delivered != 2*res.Sent || res.Duplicates != 0 || res.Lost != 0 {
			t.Fatalf("QoS %s through the relay: sent %d delivered %d duplicates %d lost %d", qos, res.Sent, res.Delivered, res.Duplicates, res.Lost)
		}
	}
}

// bench sub and bench pub in separate runs: the subscriber counts every
// message of the publishers by their sequence numbers.
func TestBenchPubSubSeparate(t *testing.T) {
	srv, port := startBroker(t)
	type out struct {
		res loadgen.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		stdout, stderr, err := runBench(t, "bench", "sub", "-Q", "--json", "-p", port, "-c", "2", "-q", "1", "-d", "2s")
		var o out
		if o.err = err; err != nil {
			o.err = fmt.Errorf("%w: %s", err, stderr)
		} else {
			o.err = json.Unmarshal([]byte(stdout), &o.res)
		}
		done <- o
	}()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().Subscriptions < 2 {
		if time.Now().After(deadline) {
			t.Fatal("subscribers did not subscribe")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stdout, stderr, err := runBench(t, "bench", "pub", "-Q", "--json", "-p", port, "-c", "3", "-q", "1", "-r", "1000", "-L", "100")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	var pub loadgen.Result
	if err := json.Unmarshal([]byte(stdout), &pub); err != nil {
		t.Fatal(err)
	}
	if pub.Sent != 300 || pub.Acked != 300 {
		t.Fatalf("publishers sent %d, acknowledged %d; want 300", pub.Sent, pub.Acked)
	}
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.res.Delivered != 600 || o.res.Expected != 600 || o.res.Duplicates != 0 || o.res.Lost != 0 {
		t.Fatalf("subscribers: delivered %d of %d expected, %d duplicates, %d lost", o.res.Delivered, o.res.Expected, o.res.Duplicates, o.res.Lost)
	}
	checkOrdered(t, o.res.Latency)
}

// Persistent subscribers on a durable store: their sessions outlive the
// run under names that do not change, so a second run resumes them; the
// store's fsyncs and commits over the run are read from the broker's
// metrics.
func TestBenchPersistentSubscribers(t *testing.T) {
	st, err := pebble.Open(t.TempDir(), pebble.Options{Durability: pebble.Sync, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv, addr := brokertest.Start(t, broker.Config{Store: st})
	t.Cleanup(func() { st.Close() }) // after the broker's shutdown
	_, port, _ := net.SplitHostPort(addr)
	hs := httptest.NewServer(srv.AdminHandler())
	defer hs.Close()
	for _, tc := range []struct{ name, version, session string }{
		{"MQTT 5", "5", "--session-expiry=1h"},
		{"MQTT 3.1.1", "4", "--clean=false"},
	} {
		for run := range 2 {
			res := benchJSON(t, "-p", port, "-V", tc.version, tc.session, "--client-prefix", "p"+tc.version,
				"--pub", "2", "--sub", "3", "-q", "1", "-r", "200", "-d", "300ms", "--broker-metrics", hs.URL+"/metrics")
			if !res.PersistentSubscribers || res.Sent == 0 || res.Acked != res.Sent || res.Delivered != 3*res.Sent || res.Lost != 0 || res.Duplicates != 0 {
				t.Fatalf("%s run %d: persistent %v, sent %d, acknowledged %d, delivered %d, lost %d, duplicates %d",
					tc.name, run, res.PersistentSubscribers, res.Sent, res.Acked, res.Delivered, res.Lost, res.Duplicates)
			}
			s := res.Store
			if s == nil || s.Commits < int64(res.Sent) || s.Fsyncs == 0 || s.Seconds <= 0 ||
				s.CommitsPerFsync != float64(s.Commits)/float64(s.Fsyncs) {
				t.Fatalf("%s run %d: store %+v for %d messages", tc.name, run, s, res.Sent)
			}
		}
		// Three sessions per version, kept across both runs.
		recs, err := st.LoadSessions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if strings.HasPrefix(r.ClientID, "p"+tc.version+"-sub-") {
				n++
			}
		}
		if n != 3 {
			t.Fatalf("%s: %d stored subscriber sessions after two runs, want 3 (%d records)", tc.name, n, len(recs))
		}
	}
	// Clean subscribers keep no session; a broker without a durable store
	// reports no store counters.
	_, port2 := startBroker(t)
	res := benchJSON(t, "-p", port2, "--pub", "1", "--sub", "1", "-q", "1", "-r", "100", "-d", "100ms", "--broker-metrics", hs.URL+"/metrics")
	if res.PersistentSubscribers {
		t.Fatal("clean subscribers reported persistent")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	if _, _, err := runBench(t, "bench", "run", "-Q", "-p", port2, "--broker-metrics", "http://"+closed+"/metrics", "-d", "100ms"); err == nil ||
		!strings.Contains(err.Error(), "broker metrics") {
		t.Fatalf("unreachable metrics page: %v", err)
	}
}
