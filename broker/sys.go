package broker

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tern-mq/tern/session"
)

// DefaultSysInterval is the default period of the $SYS topics.
const DefaultSysInterval = 10 * time.Second

// sysLoad is one exponentially damped moving average of a per-minute rate,
// as Mosquitto computes its $SYS/broker/load/... topics.
type sysLoad struct {
	topic  string
	period float64 // seconds: 60, 300 or 900
	value  float64
}

// sysState is the $SYS publisher's memory between two publications.
type sysState struct {
	last     map[string]string // the payload last published per topic
	prev     [5]int64          // the counters at the previous tick
	prevTime time.Time
	loads    [5][3]sysLoad
}

var sysLoadNames = [5]string{"messages/received", "messages/sent", "bytes/received", "bytes/sent", "connections"}

// sysLoop publishes the $SYS topics every interval until Shutdown.
func (s *Server) sysLoop(interval time.Duration) {
	defer s.wg.Done()
	st := &sysState{last: make(map[string]string), prevTime: s.started}
	for i, n := range sysLoadNames {
		for j, p := range [3]struct {
			name string
			secs float64
		}{{"1min", 60}, {"5min", 300}, {"15min", 900}} {
			st.loads[i][j] = sysLoad{topic: "$SYS/broker/load/" + n + "/" + p.name, period: p.secs}
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	s.publishSys(st, time.Now())
	for {
		select {
		case <-s.stopping:
			return
		case now := <-t.C:
			s.publishSys(st, now)
		}
	}
}

// publishSys publishes, retained at QoS 0, every $SYS topic whose value
// changed since the last time.
func (s *Server) publishSys(st *sysState, now time.Time) {
	stats := s.Stats()
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	g := s.Gauges(ctx)
	cancel()
	tr := s.traffic()
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	uptime := int64(now.Sub(s.started) / time.Second)
	vals := []struct{ topic, value string }{
		{"$SYS/broker/version", strings.TrimSpace("tern " + s.cfg.Version)},
		{"$SYS/broker/uptime", i(uptime) + " seconds"},
		{"$SYS/broker/clients/connected", i(stats.Clients)},
		{"$SYS/broker/clients/active", i(stats.Clients)},
		{"$SYS/broker/clients/total", i(stats.Sessions)},
		{"$SYS/broker/clients/disconnected", i(stats.Sessions - stats.Clients)},
		{"$SYS/broker/clients/inactive", i(stats.Sessions - stats.Clients)},
		{"$SYS/broker/messages/received", i(stats.MessagesReceived)},
		{"$SYS/broker/messages/sent", i(stats.MessagesSent)},
		{"$SYS/broker/publish/messages/received", i(stats.MessagesReceived)},
		{"$SYS/broker/publish/messages/sent", i(stats.MessagesSent)},
		{"$SYS/broker/publish/messages/dropped", i(stats.Dropped)},
		{"$SYS/broker/bytes/received", i(tr.bytesIn)},
		{"$SYS/broker/bytes/sent", i(tr.bytesOut)},
		{"$SYS/broker/subscriptions/count", i(stats.Subscriptions)},
		{"$SYS/broker/store/messages/count", i(g.Queued)},
		{"$SYS/broker/store/messages/bytes", i(g.QueuedBytes)},
	}
	if g.Retained >= 0 {
		vals = append(vals, struct{ topic, value string }{"$SYS/broker/retained messages/count", i(g.Retained)})
	}
	// Loads: the per-minute rate over the last interval, damped with
	// exp(-dt/period) [Mosquitto's calc_load].
	cur := [5]int64{stats.MessagesReceived, stats.MessagesSent, tr.bytesIn, tr.bytesOut, s.stats.accepted.Load()}
	if dt := now.Sub(st.prevTime).Seconds(); dt > 0 {
		for k := range cur {
			rate := float64(cur[k]-st.prev[k]) * 60 / dt
			for j := range st.loads[k] {
				l := &st.loads[k][j]
				e := math.Exp(-dt / l.period)
				l.value = e*(l.value-rate) + rate
				vals = append(vals, struct{ topic, value string }{l.topic, strconv.FormatFloat(l.value, 'f', 2, 64)})
			}
		}
		st.prev, st.prevTime = cur, now
	}
	for _, v := range vals {
		if st.last[v.topic] == v.value {
			continue
		}
		st.last[v.topic] = v.value
		m := &session.Message{ID: s.messageID(), Topic: v.topic, Payload: []byte(v.value), Retain: true}
		s.route(m, nil)
	}
}
