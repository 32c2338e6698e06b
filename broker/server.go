package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/memory"
	"github.com/tern-mq/tern/topic"
)

// ErrServerClosed is returned by Serve after Shutdown or Drain.
var ErrServerClosed = errors.New("broker: server closed")

// Server is an MQTT broker. Create it with New, run it with Serve on one or
// more listeners, stop it with Shutdown.
type Server struct {
	cfg      Config
	started  time.Time
	log      *slog.Logger
	store    store.Store // cfg.Store, or nil: no persistence calls
	retained store.Store // where retained messages live: cfg.Store or a memory store
	subs     *topic.Trie[*client, subscription]
	shared   *sharedSubs

	mu        sync.Mutex
	clients   map[string]*client
	conns     map[*conn]struct{}
	listeners map[net.Listener]struct{}
	closing   bool
	drain     atomic.Pointer[DrainOptions] // set by Drain
	stopping  chan struct{}                // closed when Shutdown begins
	wg        sync.WaitGroup               // every goroutine the server starts
	ctx       context.Context
	cancel    context.CancelFunc

	gen   atomic.Uint64 // connection generations and assigned identifiers
	msgID atomic.Uint64 // the last Message.ID given, when a store is configured

	stats counters
	guard *guard                 // connection rate limit and bans
	lim   atomic.Pointer[Limits] // the limits in force (SetLimits)
	// aclVersions are the Authorizers (Config's and the listeners') whose
	// rules change at run time; aclRebound is set once a session was
	// resumed under another identity (see aclcheck.go).
	aclVersions atomic.Pointer[[]auth.Versioned]
	aclRebound  atomic.Bool

	busyGap, lingerTime time.Duration // see park.go; tests shorten them
	pollOnce            sync.Once
	poll                *poller // of parked connections, started by the first park (nil: none)

	// testHook, when set, is called by a connection's reader for every
	// packet it dispatches (tests inject panics with it).
	testHook atomic.Pointer[func(packet.Type)]
	// testWriteHook, when set, is called by every flush of a writer.
	testWriteHook atomic.Pointer[func(clientID string)]
}

type counters struct {
	accepted        atomic.Int64
	connected       atomic.Int64
	received        atomic.Int64
	sent            atomic.Int64
	dropped         atomic.Int64
	droppedQoS0     atomic.Int64
	droppedTooLarge atomic.Int64
	panics          atomic.Int64
	auth            authCounters
	obs             obsCounters
	limits          limitCounters
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Connections       int64 // open network connections (including those awaiting CONNECT)
	Clients           int64 // connected clients
	Sessions          int64 // client sessions, connected or not
	Subscriptions     int64 // (filter, session) subscriptions
	MessagesReceived  int64 // PUBLISH packets accepted from clients
	MessagesSent      int64 // PUBLISH packets written to clients
	Dropped           int64 // messages not delivered, for any reason below or in a session queue
	DroppedQoS0       int64 // QoS 0 messages dropped for a slow connected consumer
	DroppedTooLarge   int64 // messages larger than the receiver's Maximum Packet Size
	PanicsRecovered   int64 // panics recovered in connection goroutines
	ConnectRefused    int64 // CONNECT refused by the Authenticator
	ConnectAuthErrors int64 // CONNECT refused because the Authenticator failed
	PublishDenied     int64 // PUBLISH packets and wills refused by the Authorizer
	SubscribeDenied   int64 // SUBSCRIBE filters refused by the Authorizer
}

// New returns a Server configured by cfg (see Config for the defaults).
func New(cfg Config) (*Server, error) {
	c := cfg.withDefaults()
	switch c.SharePolicy {
	case "", ShareRoundRobin, ShareRandom, ShareHashTopic, ShareHashClient:
	default:
		return nil, fmt.Errorf("broker: unknown SharePolicy %q", c.SharePolicy)
	}
	s := &Server{
		cfg:        c,
		started:    time.Now(),
		log:        c.Logger,
		store:      c.Store,
		retained:   c.Store,
		subs:       topic.NewTrie[*client, subscription](),
		shared:     newSharedSubs(c.SharePolicy),
		clients:    make(map[string]*client),
		conns:      make(map[*conn]struct{}),
		listeners:  make(map[net.Listener]struct{}),
		stopping:   make(chan struct{}),
		busyGap:    busyGap,
		lingerTime: lingerTime,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	lim := c.limits().withDefaults()
	s.lim.Store(&lim)
	s.guard = newGuard(&lim)
	if v, ok := c.Authorizer.(auth.Versioned); ok {
		s.addACLVersion(v)
	}
	if s.retained == nil {
		s.retained = memory.New()
	}
	if s.store != nil {
		max, err := s.store.MaxMessageID(s.ctx)
		if err != nil {
			return nil, fmt.Errorf("broker: reading the store: %w", err)
		}
		s.msgID.Store(max)
		if err := s.restore(); err != nil {
			return nil, fmt.Errorf("broker: restoring sessions: %w", err)
		}
	}
	if c.SysInterval > 0 {
		s.wg.Add(1)
		go s.sysLoop(c.SysInterval)
	}
	if c.SlowConsumerTimeout > 0 {
		s.wg.Add(1)
		go s.quotaLoop()
	}
	if c.RetryInterval > 0 {
		s.wg.Add(1)
		go s.retryLoop()
	}
	return s, nil
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	nconn, nsess := len(s.conns), len(s.clients)
	s.mu.Unlock()
	return Stats{
		Connections:       int64(nconn),
		Clients:           s.stats.connected.Load(),
		Sessions:          int64(nsess),
		Subscriptions:     int64(s.subs.Len()) + s.shared.members.Load(),
		MessagesReceived:  s.stats.received.Load(),
		MessagesSent:      s.stats.sent.Load(),
		Dropped:           s.stats.dropped.Load(),
		DroppedQoS0:       s.stats.droppedQoS0.Load(),
		DroppedTooLarge:   s.stats.droppedTooLarge.Load(),
		PanicsRecovered:   s.stats.panics.Load(),
		ConnectRefused:    s.stats.auth.connectRefused.Load(),
		ConnectAuthErrors: s.stats.auth.connectErrors.Load(),
		PublishDenied:     s.stats.auth.publishDenied.Load(),
		SubscribeDenied:   s.stats.auth.subscribeDenied.Load(),
	}
}

// Serve accepts connections on ln until Shutdown or Drain is called or ln
// fails. It closes ln on return. Serve may be called for several listeners.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, nil) }

// serve is Serve with the options of the listener (nil: none).
func (s *Server) serve(ln net.Listener, st *listenerState) error {
	s.mu.Lock()
	if s.closing || s.draining() != nil {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	s.log.Info("listening", "addr", ln.Addr().String())
	slots := new(listenerSlots)
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing || s.draining() != nil
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("broker: accept: %w", err)
		}
		delay = 0
		s.serveFrom(nc, slots, st)
	}
}

// serveConn starts the reader goroutine of a new connection.
func (s *Server) serveConn(nc net.Conn) { s.serveFrom(nc, nil, nil) }

// serveFrom is serveConn for a connection accepted by the listener of
// slots (nil: none) with options st (nil: none).
func (s *Server) serveFrom(nc net.Conn, slots *listenerSlots, st *listenerState) {
	if !s.admit(nc) {
		return
	}
	c := newConn(s, nc)
	c.lst = st
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if s.overConnectionLimitLocked(slots) {
		s.mu.Unlock()
		s.refuseConnection(c, slots)
		return
	}
	s.takeSlot(c, slots)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.accepted.Add(1)
	go c.readLoop()
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.releaseSlot(c)
	s.stats.obs.fold(&c.ctr)
	s.mu.Unlock()
}

// Shutdown stops the listeners, sends DISCONNECT with reason code 0x8B
// (Server shutting down) to MQTT 5 clients, closes every connection and
// waits for the server's goroutines to end. When ctx ends first, the
// remaining connections are closed at once and ctx's error is returned
// after they end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		close(s.stopping)
	}
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	clients := make([]*client, 0, len(s.clients))
	for _, cl := range s.clients {
		clients = append(clients, cl)
	}
	s.mu.Unlock()
	for _, cl := range clients {
		cl.stopTimers()
	}
	// In parallel: a DISCONNECT to a client that does not read may wait for
	// its write deadline.
	var sw sync.WaitGroup
	for _, c := range conns {
		sw.Add(1)
		go func() {
			defer sw.Done()
			c.shutdown()
		}()
	}
	sw.Wait()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		for _, c := range conns {
			c.close(errShutdown)
		}
		<-done
	}
	s.pollOnce.Do(func() {}) // no poller starts after this
	if s.poll != nil {
		s.poll.close()
	}
	s.cancel()
	return err
}

// poller returns the poller of parked connections, started on first use;
// nil if it cannot be started (connections then keep their goroutine).
func (s *Server) poller() *poller {
	s.pollOnce.Do(func() {
		p, err := newPoller(s.log, s.started)
		if err != nil {
			s.log.Warn("idle connections are not parked", "err", err)
			return
		}
		s.poll = p
	})
	return s.poll
}

// isClosing reports whether Shutdown has begun.
func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// messageID returns a new Message.ID when a store is configured (the store
// keeps one body per ID), else 0.
func (s *Server) messageID() uint64 {
	if s.store == nil {
		return 0
	}
	return s.msgID.Add(1)
}
