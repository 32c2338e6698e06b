package broker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/memory"
)

// scrape parses the /metrics page of h.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	var p expfmt.TextParser
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mf
}

// value returns the value of the metric of family name whose labels
// include want (name=value pairs), or -1.
func value(mf map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := mf[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		for i := 0; i < len(want); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	authn, authz := fileAuth(t, testACL, true)
	s, addr := startServer(t, Config{Authenticator: authn, Authorizer: authz, SysInterval: -1})
	hs := httptest.NewServer(s.AdminHandler())
	defer hs.Close()

	sub := dial(t, addr, packet.V311)
	sub.mustConnect("sub", true, withLogin("alice", "secret"))
	sub.subscribe(1, "shared/#", 1)
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true, withLogin("alice", "secret"))
	const n1, n0 = 5, 3
	for i := range n1 {
		pub.send(&packet.Publish{Topic: "shared/a", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")})
		pub.recvAck(packet.PUBACK)
		sub.recvPublish()
	}
	for range n0 {
		pub.send(&packet.Publish{Topic: "shared/b", Payload: []byte("y")})
		sub.recvPublish()
	}
	pub.send(&packet.Publish{Topic: "out/denied", QoS: 1, PacketID: 99})
	pub.recvAck(packet.PUBACK)
	bad := dial(t, addr, packet.V311)
	if ack := bad.connect("bad", true, withLogin("alice", "wrong")); ack.ReasonCode == 0 {
		t.Fatal("wrong password accepted")
	}

	mf := scrape(t, hs.URL)
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tern_messages_received_total", []string{"qos", "1"}, n1},
		{"tern_messages_received_total", []string{"qos", "0"}, n0},
		{"tern_messages_sent_total", []string{"qos", "1"}, n1},
		{"tern_messages_sent_total", []string{"qos", "0"}, n0},
		{"tern_clients_connected", nil, 2},
		{"tern_sessions", nil, 2},
		{"tern_subscriptions", nil, 1},
		{"tern_auth_refusals_total", []string{"kind", "publish denied"}, 1},
		{"tern_auth_refusals_total", []string{"kind", "connect refused"}, 1},
		{"tern_queued_messages", nil, 0},
	}
	for _, c := range checks {
		if got := value(mf, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Bytes: at least the PUBLISH packets themselves.
	if got := value(mf, "tern_bytes_received_total"); got < float64(n1*(2+2+8+1)) {
		t.Errorf("tern_bytes_received_total = %v", got)
	}
	if got := value(mf, "tern_bytes_sent_total"); got < float64(n1*(2+2+8+1)) {
		t.Errorf("tern_bytes_sent_total = %v", got)
	}
	if mf["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}

	// The counters of ended connections stay in the totals.
	bytesIn := value(mf, "tern_bytes_received_total")
	sub.disconnect()
	pub.disconnect()
	eventually(t, "connections ended", func() bool { return s.Stats().Connections == 0 })
	mf = scrape(t, hs.URL)
	if got := value(mf, "tern_messages_received_total", "qos", "1"); got != n1 {
		t.Errorf("after the connections ended: received qos 1 = %v, want %v", got, n1)
	}
	if got := value(mf, "tern_bytes_received_total"); got < bytesIn+4 { // + two DISCONNECTs
		t.Errorf("after the connections ended: bytes received %v, want at least %v", got, bytesIn+4)
	}

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get(hs.URL + path)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestReadyzWithoutListener(t *testing.T) {
	s, err := New(Config{Logger: testLogger(), SysInterval: -1})
	must(t, err)
	defer s.Shutdown(context.Background())
	rec := httptest.NewRecorder()
	s.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz without a listener: %d, want 503", rec.Code)
	}
}

func TestSysTopics(t *testing.T) {
	_, addr := startServer(t, Config{SysInterval: 20 * time.Millisecond, Version: "9.9.9"})
	all := dial(t, addr, packet.V311)
	all.mustConnect("all", true)
	all.subscribe(1, "#", 0) // '#' does not match $SYS topics [MQTT-4.7.2-1]

	c := dial(t, addr, packet.V5)
	c.mustConnect("sys", true)
	c.subscribe(1, "$SYS/broker/#", 0)
	got := map[string]string{}
	want := func(topic string, ok func(string) bool) {
		t.Helper()
		for !ok(got[topic]) {
			if p, isPub := c.recv().(*packet.Publish); isPub {
				got[p.Topic] = string(p.Payload)
			}
		}
	}
	want("$SYS/broker/version", func(v string) bool { return v == "tern 9.9.9" })
	want("$SYS/broker/clients/connected", func(v string) bool { return v == "2" })
	for i := range 4 {
		c.send(&packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(i + 1)})
	}
	atLeast := func(n int) func(string) bool {
		return func(v string) bool { x, err := strconv.Atoi(v); return err == nil && x >= n }
	}
	want("$SYS/broker/messages/received", atLeast(4))
	want("$SYS/broker/subscriptions/count", atLeast(2))
	want("$SYS/broker/bytes/received", atLeast(4*4))
	want("$SYS/broker/load/messages/received/1min", func(v string) bool { f, _ := strconv.ParseFloat(v, 64); return f > 0 })
	want("$SYS/broker/uptime", func(v string) bool { return strings.HasSuffix(v, " seconds") })

	// Retained: a late subscriber gets the last values at once.
	late := dial(t, addr, packet.V311)
	late.mustConnect("late", true)
	late.subscribe(1, "$SYS/broker/version", 0)
	if p := late.recvPublish(); !p.Retain || string(p.Payload) != "tern 9.9.9" {
		t.Fatalf("late subscriber: %+v", p)
	}
	// The "#" subscriber got the four messages on t only.
	for range 4 {
		if p := all.recvPublish(); p.Topic != "t" {
			t.Fatalf("'#' received %q", p.Topic)
		}
	}
	all.expectNothing(50 * time.Millisecond)
}

// countingStore is a memory store that counts its Apply calls as commits,
// one fsync per two.
type countingStore struct {
	*memory.Store
	applies atomic.Int64
}

func (c *countingStore) Apply(ctx context.Context, updates ...store.Update) error {
	c.applies.Add(1)
	return c.Store.Apply(ctx, updates...)
}

func (c *countingStore) WriteCounters() store.WriteCounters {
	n := c.applies.Load()
	return store.WriteCounters{Commits: n, Syncs: n / 2}
}

// The store's commits and fsyncs are exported when it counts them.
func TestMetricsStoreCounters(t *testing.T) {
	st := &countingStore{Store: memory.New()}
	defer st.Close()
	s, addr := startServer(t, Config{Store: st, SysInterval: -1})
	hs := httptest.NewServer(s.AdminHandler())
	defer hs.Close()
	sub := dial(t, addr, packet.V311)
	sub.mustConnect("sub", false)
	sub.subscribe(1, "m", 1)
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true)
	for i := range 4 {
		pub.send(&packet.Publish{Topic: "m", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")})
		pub.recvAck(packet.PUBACK)
	}
	want := st.WriteCounters()
	if want.Commits < 4 {
		t.Fatalf("%d commits for 4 durable messages", want.Commits)
	}
	mf := scrape(t, hs.URL)
	if got := value(mf, "tern_store_commits_total"); got < float64(want.Commits) {
		t.Errorf("tern_store_commits_total = %v, want at least %d", got, want.Commits)
	}
	if got := value(mf, "tern_store_fsyncs_total"); got < float64(want.Syncs) {
		t.Errorf("tern_store_fsyncs_total = %v, want at least %d", got, want.Syncs)
	}
	// A store that does not count exports nothing.
	s2, _ := startServer(t, Config{SysInterval: -1})
	hs2 := httptest.NewServer(s2.AdminHandler())
	defer hs2.Close()
	if got := value(scrape(t, hs2.URL), "tern_store_commits_total"); got != -1 {
		t.Errorf("tern_store_commits_total = %v without a store", got)
	}
}
