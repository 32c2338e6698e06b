package broker

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

// connCounters are a connection's own counters: its reader and its
// writer (one at a time) add to them without contending with other
// connections; they are summed at collection time and folded into the
// server's obsCounters when the connection ends.
type connCounters struct {
	bytesIn, bytesOut atomic.Int64
	recvQoS, sentQoS  [3]atomic.Int64
}

// obsCounters are the counters of the metrics and $SYS topics beyond those
// of Stats: the totals of the ended connections (guarded by Server.mu),
// and drops by reason.
type obsCounters struct {
	bytesIn, bytesOut int64
	recvQoS, sentQoS  [3]int64
	droppedBy         [session.NumDropReasons]atomic.Int64
}

// fold adds an ended connection's counters; Server.mu is held.
func (o *obsCounters) fold(c *connCounters) {
	o.bytesIn += c.bytesIn.Load()
	o.bytesOut += c.bytesOut.Load()
	for q := range 3 {
		o.recvQoS[q] += c.recvQoS[q].Load()
		o.sentQoS[q] += c.sentQoS[q].Load()
	}
}

// traffic is a snapshot of the byte and message counters.
type traffic struct {
	bytesIn, bytesOut int64
	recvQoS, sentQoS  [3]int64
}

// traffic sums the ended connections' counters and the open ones'.
func (s *Server) traffic() traffic {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.stats.obs
	t := traffic{bytesIn: o.bytesIn, bytesOut: o.bytesOut, recvQoS: o.recvQoS, sentQoS: o.sentQoS}
	for c := range s.conns {
		t.bytesIn += c.ctr.bytesIn.Load()
		t.bytesOut += c.ctr.bytesOut.Load()
		for q := range 3 {
			t.recvQoS[q] += c.ctr.recvQoS[q].Load()
			t.sentQoS[q] += c.ctr.sentQoS[q].Load()
		}
	}
	return t
}

// Gauges is a snapshot of the server's state that takes a walk over the
// sessions (see Server.Gauges).
type Gauges struct {
	Queued      int64 // messages queued in sessions, waiting for the window or the client
	QueuedBytes int64 // their payload bytes
	InFlight    int64 // outbound QoS 1/2 flows unacknowledged
	Retained    int64 // retained messages (-1 when the store cannot tell)
}

// Gauges walks the sessions, locking each briefly, and asks the store for
// the retained messages: for metrics scraped every few seconds, not for a
// hot path.
func (s *Server) Gauges(ctx context.Context) Gauges {
	s.mu.Lock()
	cls := make([]*client, 0, len(s.clients))
	for _, cl := range s.clients {
		cls = append(cls, cl)
	}
	s.mu.Unlock()
	var g Gauges
	for _, cl := range cls {
		cl.mu.Lock()
		if cl.sess != nil {
			st := cl.sess.Stats()
			g.Queued += int64(st.Queued)
			g.QueuedBytes += int64(st.QueuedBytes)
			g.InFlight += int64(st.InFlight)
		}
		n, b := cl.inbox.len() // routed, not yet handed to the session
		g.Queued += int64(n)
		g.QueuedBytes += int64(b)
		cl.mu.Unlock()
	}
	g.Retained = -1
	if st, err := s.retained.Stats(ctx); err == nil {
		g.Retained = int64(st.Retained)
	}
	return g
}

// Collector returns a prometheus.Collector of the server's metrics, named
// tern_*: connections, clients, sessions, subscriptions, messages and
// bytes in and out (messages by QoS), drops by reason, queue depths,
// retained messages, authentication and authorization refusals, recovered
// panics, uptime, and the commits and fsyncs of a store that counts them
// (store.WriteCounter). Values are read at collection time.
func (s *Server) Collector() prometheus.Collector { return &collector{s: s} }

type collector struct{ s *Server }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("tern_"+name, help, labels, nil)
}

var (
	descConnections   = desc("connections", "Open network connections, including those awaiting CONNECT.")
	descAccepted      = desc("connections_accepted_total", "Network connections accepted.")
	descClients       = desc("clients_connected", "Connected clients.")
	descSessions      = desc("sessions", "Client sessions, connected or not.")
	descSubscriptions = desc("subscriptions", "Subscriptions (topic filter, session).")
	descMsgIn         = desc("messages_received_total", "PUBLISH packets accepted from clients.", "qos")
	descMsgOut        = desc("messages_sent_total", "PUBLISH packets written to clients.", "qos")
	descBytesIn       = desc("bytes_received_total", "Bytes of MQTT packets received.")
	descBytesOut      = desc("bytes_sent_total", "Bytes written to clients.")
	descDropped       = desc("messages_dropped_total", "Messages not delivered, by reason.", "reason")
	descQueued        = desc("queued_messages", "Messages queued in sessions.")
	descQueuedBytes   = desc("queued_bytes", "Payload bytes of the queued messages.")
	descInFlight      = desc("inflight_messages", "Outbound QoS 1 and 2 flows awaiting acknowledgement.")
	descRetained      = desc("retained_messages", "Retained messages.")
	descAuth          = desc("auth_refusals_total", "Refusals of the authenticator and authorizer.", "kind")
	descLimits        = desc("limit_refusals_total", "Connections and clients refused by the limits of the configuration.", "kind")
	descBans          = desc("bans_total", "Bans begun, by what is banned.", "banned")
	descPanics        = desc("panics_recovered_total", "Panics recovered in connection goroutines.")
	descUptime        = desc("uptime_seconds", "Seconds since the server started.")
	descStoreCommits  = desc("store_commits_total", "Write batches the durable store committed (group-commit batch size: commits / fsyncs).")
	descStoreSyncs    = desc("store_fsyncs_total", "Fsyncs of the durable store's log.")
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnections, descAccepted, descClients, descSessions, descSubscriptions,
		descMsgIn, descMsgOut, descBytesIn, descBytesOut, descDropped, descQueued, descQueuedBytes, descInFlight,
		descRetained, descAuth, descLimits, descBans, descPanics, descUptime, descStoreCommits, descStoreSyncs} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.Stats()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g := s.Gauges(ctx)
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descConnections, st.Connections)
	counter(descAccepted, s.stats.accepted.Load())
	gauge(descClients, st.Clients)
	gauge(descSessions, st.Sessions)
	gauge(descSubscriptions, st.Subscriptions)
	tr := s.traffic()
	for q := range 3 {
		counter(descMsgIn, tr.recvQoS[q], strconv.Itoa(q))
		counter(descMsgOut, tr.sentQoS[q], strconv.Itoa(q))
	}
	counter(descBytesIn, tr.bytesIn)
	counter(descBytesOut, tr.bytesOut)
	o := &s.stats.obs
	var known int64
	for r := session.DropReason(1); r < session.NumDropReasons; r++ {
		n := o.droppedBy[r].Load()
		known += n
		counter(descDropped, n, r.String())
	}
	counter(descDropped, st.DroppedQoS0, "qos0 slow consumer")
	counter(descDropped, max(0, st.Dropped-known-st.DroppedQoS0), "other")
	gauge(descQueued, g.Queued)
	gauge(descQueuedBytes, g.QueuedBytes)
	gauge(descInFlight, g.InFlight)
	if g.Retained >= 0 {
		gauge(descRetained, g.Retained)
	}
	counter(descAuth, st.ConnectRefused, "connect refused")
	counter(descAuth, st.ConnectAuthErrors, "connect error")
	counter(descAuth, st.PublishDenied, "publish denied")
	counter(descAuth, st.SubscribeDenied, "subscribe denied")
	counter(descAuth, s.stats.auth.subscriptionsRevoked.Load(), "subscription revoked")
	counter(descLimits, s.stats.limits.connections.Load(), "max connections")
	counter(descLimits, s.stats.limits.clientIDs.Load(), "client id length")
	counter(descLimits, s.stats.limits.rate.Load(), "publish rate")
	counter(descLimits, s.stats.limits.connRate.Load(), "connection rate")
	counter(descLimits, s.stats.limits.banned.Load(), "banned")
	counter(descLimits, s.stats.limits.listenerConns.Load(), "max connections per listener")
	counter(descLimits, proxyRefused.Load(), "proxy protocol header")
	counter(descLimits, s.stats.limits.topics.Load(), "topic limits")
	counter(descLimits, s.stats.limits.subscriptions.Load(), "subscriptions")
	counter(descLimits, s.stats.limits.slowConsumers.Load(), "slow consumer")
	counter(descBans, s.stats.limits.addrBans.Load(), "address")
	counter(descBans, s.stats.limits.idBans.Load(), "client identifier")
	counter(descPanics, st.PanicsRecovered)
	ch <- prometheus.MustNewConstMetric(descUptime, prometheus.GaugeValue, time.Since(s.started).Seconds())
	if wc, ok := s.store.(store.WriteCounter); ok {
		w := wc.WriteCounters()
		counter(descStoreCommits, w.Commits)
		counter(descStoreSyncs, w.Syncs)
	}
}

// AdminHandler serves the administration endpoints: /metrics (Prometheus
// text format: the Collector, with the Go runtime and process metrics),
// /healthz (200 while the process runs), /readyz (200 while the server
// serves at least one listener and is not shutting down, else 503), and
// read-only JSON: GET /clients (Clients) and GET /subscriptions
// (Subscriptions), as {"time": ..., "items": [...]}.
func (s *Server) AdminHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector(), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /clients", serveJSON(s.Clients))
	mux.Handle("GET /subscriptions", serveJSON(s.Subscriptions))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		ready := !s.closing && len(s.listeners) > 0
		s.mu.Unlock()
		if !ready {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}
