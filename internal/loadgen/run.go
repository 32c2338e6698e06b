package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/topic"
)

// Config is a publish/subscribe scenario. Publishers alone (Subscribers 0)
// is `tern bench pub`, subscribers alone `tern bench sub`, both a whole
// scenario whose latency is measured on one clock.
type Config struct {
	Conn        ConnOptions
	Publishers  int
	Subscribers int
	Topic       string // publisher i publishes to Topic with %i replaced by i
	Filter      string // subscriber i subscribes to Filter with %i replaced by i
	QoS         packet.QoS
	SubQoS      packet.QoS // subscription QoS; default QoS
	Rate        float64    // messages per second per publisher; 0: flat-out
	Size        int        // payload bytes, at least MinPayload
	Duration    time.Duration
	Count       int           // messages per publisher; 0: until Duration ends
	Inflight    int           // QoS 1/2 window per publisher (capped by the broker's Receive Maximum)
	Drain       time.Duration // after publishing, how long to wait at most for acknowledgements and deliveries
	Progress    io.Writer     // one line per second; nil: none
	BrokerPID   int           // when set, CPU and RSS of this process are measured

	// SubKeepSession and SubSessionExpiry make the subscribers' sessions
	// persistent (see ConnOptions); their client identifiers are then
	// Conn.ClientPrefix-sub-INDEX, the same in every run.
	SubKeepSession   bool
	SubSessionExpiry time.Duration
	// MetricsURL is the broker's Prometheus page: its store counters
	// (tern_store_commits_total, tern_store_fsyncs_total) are read before
	// and after the run and reported in Result.Store.
	MetricsURL string
}

// persistentSubs reports whether the subscribers ask for sessions that
// outlive their connections.
func (c *Config) persistentSubs() bool {
	return c.Subscribers > 0 && (c.SubSessionExpiry > 0 || c.SubKeepSession && c.Conn.Version != packet.V5)
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	c.Conn = c.Conn.withDefaults()
	switch {
	case c.Conn.Addr == "":
		return errors.New("no broker address")
	case c.Publishers < 0 || c.Subscribers < 0:
		return errors.New("publisher and subscriber counts must not be negative")
	case c.Publishers == 0 && c.Subscribers == 0:
		return errors.New("nothing to run: no publishers and no subscribers")
	case c.QoS > 2 || c.SubQoS > 2:
		return fmt.Errorf("QoS must be 0, 1 or 2")
	case c.Rate < 0:
		return errors.New("--rate must not be negative (0 means flat-out)")
	case c.Publishers > 0 && c.Size < MinPayload:
		return fmt.Errorf("payload size %d too small: at least %d bytes carry the publisher, sequence number and send time", c.Size, MinPayload)
	case c.Size > 1<<20:
		return fmt.Errorf("payload size %d too large (at most 1 MiB)", c.Size)
	case c.Duration <= 0 && c.Count <= 0:
		return errors.New("give a duration or a message count")
	case c.Count < 0:
		return errors.New("message count must not be negative")
	case c.SubSessionExpiry < 0 || c.SubSessionExpiry > 0xFFFFFFFF*time.Second:
		return fmt.Errorf("--session-expiry %v: want 0 to %ds", c.SubSessionExpiry, uint32(0xFFFFFFFF))
	case c.SubSessionExpiry > 0 && c.Conn.Version != packet.V5:
		return errors.New("--session-expiry is MQTT 5; before it, --clean=false makes a session persistent")
	}
	if c.SubQoS == 0 {
		c.SubQoS = c.QoS
	}
	if c.Inflight <= 0 {
		c.Inflight = 100
	}
	if c.Inflight > 65535 {
		return errors.New("--inflight must be at most 65535")
	}
	if c.Drain <= 0 {
		c.Drain = 5 * time.Second
	}
	if c.Publishers > 0 {
		if err := topic.ValidName(expand(c.Topic, 0)); err != nil {
			return fmt.Errorf("topic %q: %w", c.Topic, err)
		}
	}
	if c.Subscribers > 0 {
		if err := topic.ValidFilter(expand(c.Filter, 0)); err != nil {
			return fmt.Errorf("filter %q: %w", c.Filter, err)
		}
	}
	if c.Subscribers > 0 && c.Conn.ReceiveMaximum == 0 {
		c.Conn.ReceiveMaximum = c.Inflight
	}
	return nil
}

// Result is the outcome of a run.
type Result struct {
	Publishers  int     `json:"publishers"`
	Subscribers int     `json:"subscribers"`
	QoS         int     `json:"qos"`
	Rate        float64 `json:"rate_per_publisher"` // target; 0: flat-out
	Size        int     `json:"payload_bytes"`
	Seconds     float64 `json:"seconds"` // publishing time (subscribers alone: receiving time)
	// PersistentSubscribers: the subscribers' sessions outlive their
	// connections (Config.SubKeepSession, SubSessionExpiry).
	PersistentSubscribers bool `json:"persistent_subscribers,omitempty"`

	Sent     uint64  `json:"sent"`
	SentRate float64 `json:"sent_per_second"`
	Acked    uint64  `json:"acked"` // QoS 1/2 publications completed

	Expected      uint64  `json:"expected"`  // deliveries expected by the subscriptions
	Delivered     uint64  `json:"delivered"` // distinct deliveries
	DeliveredRate float64 `json:"delivered_per_second"`
	Duplicates    uint64  `json:"duplicates"`
	Lost          uint64  `json:"lost"`
	LossPercent   float64 `json:"loss_percent"`
	Foreign       uint64  `json:"foreign"` // messages not sent by this run

	Latency *LatencyStats `json:"latency_ms,omitempty"`
	Connect ConnectStats  `json:"connect"`

	Broker    *ProcStats  `json:"broker,omitempty"`
	Store     *StoreStats `json:"store,omitempty"` // with Config.MetricsURL and a durable store
	Generator *ProcStats  `json:"generator,omitempty"`
	Errors    []string    `json:"errors,omitempty"`
}

// LatencyStats are percentiles in milliseconds.
type LatencyStats struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

func latencyStats(h *Histogram) *LatencyStats {
	if h.Count() == 0 {
		return nil
	}
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return &LatencyStats{Count: h.Count(), Min: ms(h.Min()), Mean: h.Mean() / 1e6, P50: ms(h.Percentile(0.5)),
		P90: ms(h.Percentile(0.9)), P99: ms(h.Percentile(0.99)), P999: ms(h.Percentile(0.999)), Max: ms(h.Max())}
}

// ConnectStats describe the connection phase.
type ConnectStats struct {
	Attempted int            `json:"attempted"`
	Connected int            `json:"connected"`
	Failed    int            `json:"failed"`
	Seconds   float64        `json:"seconds"`
	Rate      float64        `json:"per_second"`
	Errors    map[string]int `json:"errors,omitempty"`
	Latency   *LatencyStats  `json:"latency_ms,omitempty"`
}

// link is a connection shared by a reader and a writer goroutine.
type link struct {
	*mconn
	wmu       sync.Mutex
	lastWrite atomic.Int64 // Unix ns
	closing   atomic.Bool
}

func (l *link) write(b []byte) error {
	l.wmu.Lock()
	_, err := l.nc.Write(b)
	l.wmu.Unlock()
	l.lastWrite.Store(time.Now().UnixNano())
	return err
}

func (l *link) close() {
	l.closing.Store(true)
	l.wmu.Lock()
	l.disconnect()
	l.wmu.Unlock()
}

// pinger sends PINGREQ on every link idle for half the keep alive.
func pinger(ctx context.Context, keepAlive time.Duration, links func() []*link, v packet.Version) {
	if keepAlive <= 0 {
		return
	}
	ping, _ := packet.Append(nil, &packet.Pingreq{}, v)
	t := time.NewTicker(min(keepAlive/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		limit := time.Now().Add(-keepAlive / 2).UnixNano()
		for _, l := range links() {
			if l.lastWrite.Load() < limit && !l.closing.Load() {
				l.write(ping)
			}
		}
	}
}

// errorList collects distinct error messages with counts.
type errorList struct {
	mu sync.Mutex
	m  map[string]int
}

func (e *errorList) add(err error) {
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int{}
	}
	e.m[describe(err)]++
	e.mu.Unlock()
}

// Run runs the scenario and returns its result. An error means the
// scenario could not start (bad configuration, no broker, refused
// connections); failures during the run are in Result.Errors.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, id: rand.Uint32() | 1}
	return r.run(ctx)
}

type run struct {
	cfg   Config
	id    uint32
	pubs  []*publisher
	subs  []*subscriber
	errs  errorList
	links []*link
}

func (r *run) run(ctx context.Context) (*Result, error) {
	cfg := &r.cfg
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := &Result{Publishers: cfg.Publishers, Subscribers: cfg.Subscribers, QoS: int(cfg.QoS), Rate: cfg.Rate, Size: cfg.Size,
		PersistentSubscribers: cfg.persistentSubs()}

	// Connect subscribers first, then publishers.
	cstart := time.Now()
	var connHist Histogram
	var connErr error
	var mu sync.Mutex
	subOpts := cfg.Conn
	subOpts.KeepSession, subOpts.SessionExpiry = cfg.SubKeepSession, cfg.SubSessionExpiry
	connect := func(role string, i int, readBuf int) *link {
		o, id := &cfg.Conn, fmt.Sprintf("%s-%s-%d-%08x", cfg.Conn.ClientPrefix, role, i, r.id)
		if role == "sub" {
			o = &subOpts
			if cfg.persistentSubs() { // the same session in every run
				id = fmt.Sprintf("%s-sub-%d", cfg.Conn.ClientPrefix, i)
			}
		}
		m, err := dial(ctx, o, id, readBuf)
		mu.Lock()
		defer mu.Unlock()
		res.Connect.Attempted++
		if err != nil {
			res.Connect.Failed++
			r.errs.add(err)
			if connErr == nil {
				name := map[string]string{"sub": "subscriber", "pub": "publisher"}[role]
				connErr = fmt.Errorf("%s %d could not connect to %s: %s", name, i, cfg.Conn.Addr, describe(err))
			}
			return nil
		}
		res.Connect.Connected++
		connHist.Record(int64(m.connected))
		l := &link{mconn: m}
		l.lastWrite.Store(time.Now().UnixNano())
		r.links = append(r.links, l)
		return l
	}
	r.subs = make([]*subscriber, cfg.Subscribers)
	r.pubs = make([]*publisher, cfg.Publishers)
	parallel(ctx, cfg.Subscribers, func(i int) {
		l := connect("sub", i, 64<<10)
		if l == nil {
			return
		}
		f := expand(cfg.Filter, i)
		if err := l.subscribe(f, cfg.SubQoS, cfg.Conn.ConnectTimeout); err != nil {
			mu.Lock()
			if connErr == nil {
				connErr = fmt.Errorf("subscriber %d: %w", i, err)
			}
			mu.Unlock()
			return
		}
		id := r.id
		if cfg.Publishers == 0 {
			id = 0
		}
		r.subs[i] = &subscriber{l: l, filter: f, run: id, qos: cfg.SubQoS, errs: &r.errs, sources: map[uint64]*seqSet{}}
	})
	if connErr == nil {
		parallel(ctx, cfg.Publishers, func(i int) {
			if l := connect("pub", i, 4<<10); l != nil {
				r.pubs[i] = newPublisher(l, r, i)
			}
		})
	}
	res.Connect.Seconds = time.Since(cstart).Seconds()
	if res.Connect.Seconds > 0 {
		res.Connect.Rate = float64(res.Connect.Connected) / res.Connect.Seconds
	}
	res.Connect.Latency = latencyStats(&connHist)
	r.errs.mu.Lock()
	for e, n := range r.errs.m {
		if res.Connect.Errors == nil {
			res.Connect.Errors = map[string]int{}
		}
		res.Connect.Errors[e] = n
	}
	r.errs.mu.Unlock()
	defer func() {
		for _, l := range r.links {
			if !l.closing.Load() {
				l.close()
			}
		}
	}()
	if connErr == nil {
		connErr = ctx.Err()
	}
	if connErr != nil {
		return res, connErr
	}
	go pinger(ctx, cfg.Conn.KeepAlive, func() []*link { return r.links }, cfg.Conn.Version)

	var subWG sync.WaitGroup
	for _, s := range r.subs {
		subWG.Add(1)
		go func() { defer subWG.Done(); s.loop() }()
	}
	var brokerA, selfA procSample
	if cfg.BrokerPID > 0 {
		var err error
		if brokerA, err = sampleProc(cfg.BrokerPID); err != nil {
			return res, err
		}
	}
	selfA, _ = sampleProc(os.Getpid())
	var storeA storeSample
	if cfg.MetricsURL != "" {
		var err error
		if storeA, err = sampleStore(ctx, cfg.MetricsURL); err != nil {
			return res, err
		}
	}

	start := time.Now()
	var pubWG sync.WaitGroup
	for i, p := range r.pubs {
		pubWG.Add(1)
		go func() { defer pubWG.Done(); p.loop(ctx, start, i) }()
	}
	stopProgress := r.progress(ctx, start)
	pubDone := make(chan struct{})
	go func() { pubWG.Wait(); close(pubDone) }()
	if cfg.Publishers == 0 {
		// Subscribers alone: receive for the duration.
		t := time.NewTimer(cfg.Duration)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	<-pubDone
	pubEnd := time.Now()
	if cfg.Publishers > 0 {
		r.drain(ctx)
	}
	stopProgress()
	end := time.Now()
	if cfg.MetricsURL != "" {
		if b, err := sampleStore(ctx, cfg.MetricsURL); err == nil {
			res.Store = storeStats(storeA, b)
		} else {
			r.errs.add(err)
		}
	}
	for _, s := range r.subs {
		s.l.close()
	}
	subWG.Wait()
	for _, p := range r.pubs {
		p.l.close()
		<-p.readerDone
	}
	if cfg.BrokerPID > 0 {
		if b, err := sampleProc(cfg.BrokerPID); err == nil {
			res.Broker = procStats(cfg.BrokerPID, brokerA, b)
		}
	}
	if b, err := sampleProc(os.Getpid()); err == nil {
		res.Generator = procStats(os.Getpid(), selfA, b)
	}
	r.collect(res, start, pubEnd, end)
	for e, n := range r.errs.m {
		if n -= res.Connect.Errors[e]; n > 0 {
			res.Errors = append(res.Errors, fmt.Sprintf("%s (%d times)", e, n))
		}
	}
	slices.Sort(res.Errors)
	return res, nil
}

// parallel calls f(0..n-1) with at most 64 calls at a time.
func parallel(ctx context.Context, n int, f func(i int)) {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// expected returns the number of deliveries the subscriptions call for.
func (r *run) expected() uint64 {
	var n uint64
	for _, s := range r.subs {
		for i, p := range r.pubs {
			if topic.Match(s.filter, expand(r.cfg.Topic, i)) {
				n += p.sent.Load()
			}
		}
	}
	return n
}

func (r *run) delivered() uint64 {
	var n uint64
	for _, s := range r.subs {
		n += s.received.Load()
	}
	return n
}

// drain waits until every publication is acknowledged and every expected
// delivery has arrived, or nothing moved for a second, or Drain ran out.
func (r *run) drain(ctx context.Context) {
	want := r.expected()
	deadline := time.Now().Add(r.cfg.Drain)
	lastMove, last := time.Now(), uint64(0)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		acked := true
		var progress uint64
		if r.cfg.QoS > 0 {
			for _, p := range r.pubs {
				a := p.acked.Load()
				progress += a
				acked = acked && a >= p.sent.Load()
			}
		}
		got := r.delivered()
		progress += got
		if acked && got >= want {
			return
		}
		if progress != last {
			last, lastMove = progress, time.Now()
		} else if time.Since(lastMove) > time.Second {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *run) collect(res *Result, start, pubEnd, end time.Time) {
	res.Seconds = pubEnd.Sub(start).Seconds()
	var hist Histogram
	var lastRecv int64
	for _, p := range r.pubs {
		res.Sent += p.sent.Load()
		res.Acked += p.acked.Load()
	}
	if res.Seconds > 0 {
		res.SentRate = float64(res.Sent) / res.Seconds
	}
	for _, s := range r.subs {
		hist.Merge(&s.hist)
		res.Foreign += s.foreign
		for _, src := range s.sources {
			res.Delivered += src.distinct
			res.Duplicates += src.dups
			if len(r.pubs) == 0 {
				res.Expected += src.maxSeq + 1 // subscribers alone: the sequence tells
			}
		}
		lastRecv = max(lastRecv, s.lastRecv)
	}
	if len(r.pubs) > 0 {
		res.Expected = r.expected()
	}
	if res.Expected > res.Delivered {
		res.Lost = res.Expected - res.Delivered
	}
	if res.Expected > 0 {
		res.LossPercent = 100 * float64(res.Lost) / float64(res.Expected)
	}
	window := pubEnd.Sub(start)
	if lastRecv > 0 && len(r.pubs) > 0 {
		window = max(window, time.Unix(0, lastRecv).Sub(start))
	}
	if window > 0 {
		res.DeliveredRate = float64(res.Delivered) / window.Seconds()
	}
	res.Latency = latencyStats(&hist)
}

// progress prints a line every second until the returned function is called.
func (r *run) progress(ctx context.Context, start time.Time) func() {
	w := r.cfg.Progress
	if w == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastSent, lastGot uint64
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var sent uint64
			for _, p := range r.pubs {
				sent += p.sent.Load()
			}
			got := r.delivered()
			fmt.Fprintf(w, "%4.0fs  sent %d (%.0f/s)  received %d (%.0f/s)\n",
				time.Since(start).Seconds(), sent, float64(sent-lastSent), got, float64(got-lastGot))
			lastSent, lastGot = sent, got
		}
	}()
	return func() { cancel(); <-done }
}
