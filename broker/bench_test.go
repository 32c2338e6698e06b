package broker

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
)

// fakeConn is an in-memory net.Conn: reads return the preloaded bytes and
// then block until Close; writes are counted and discarded.
type fakeConn struct {
	mu      sync.Mutex
	in      []byte
	closed  chan struct{}
	once    sync.Once
	written atomic.Int64
}

func newFakeConn(in []byte) *fakeConn { return &fakeConn{in: in, closed: make(chan struct{})} }

func (f *fakeConn) Read(b []byte) (int, error) {
	f.mu.Lock()
	if len(f.in) > 0 {
		n := copy(b, f.in)
		f.in = f.in[n:]
		f.mu.Unlock()
		return n, nil
	}
	f.mu.Unlock()
	<-f.closed
	return 0, io.EOF
}

func (f *fakeConn) Write(b []byte) (int, error) {
	select {
	case <-f.closed:
		return 0, net.ErrClosed
	default:
	}
	f.written.Add(int64(len(b)))
	return len(b), nil
}

func (f *fakeConn) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeConn) LocalAddr() net.Addr                { return fakeAddr{} }
func (f *fakeConn) RemoteAddr() net.Addr               { return fakeAddr{} }
func (f *fakeConn) SetDeadline(t time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(t time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(t time.Time) error { return nil }

type fakeAddr struct{}

func (fakeAddr) Network() string { return "fake" }
func (fakeAddr) String() string  { return "fake" }

// attach connects an in-memory client subscribed to filters at qos.
func attach(tb testing.TB, s *Server, id string, qos packet.QoS, filters ...string) *fakeConn {
	tb.Helper()
	in, _ := packet.Append(nil, &packet.Connect{Version: packet.V311, CleanStart: true, ClientID: id}, packet.V311)
	if len(filters) > 0 {
		sub := &packet.Subscribe{PacketID: 1}
		for _, f := range filters {
			sub.Subscriptions = append(sub.Subscriptions, packet.Subscription{Filter: f, Options: packet.SubOptions{QoS: qos}})
		}
		in, _ = packet.Append(in, sub, packet.V311)
	}
	fc := newFakeConn(in)
	s.serveConn(fc)
	return fc
}

func newBenchServer(tb testing.TB, cfg Config) *Server {
	cfg.Logger = testLogger()
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// BenchmarkRouteMatch routes messages through the broker's trie with n
// subscriptions (n/100 of them with wildcards), to one matching
// subscriber.
func BenchmarkRouteMatch(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := newBenchServer(b, Config{})
			owner := &client{srv: s, id: "owner", sess: s.newSession(packet.V311)}
			for i := range n {
				f := fmt.Sprintf("site/%d/device/%d/temp", i%100, i)
				if i%100 == 99 {
					f = fmt.Sprintf("site/%d/+/%d/#", i%100, i)
				}
				cl := &client{srv: s, id: fmt.Sprint(i), sess: owner.sess}
				s.subs.Subscribe(f, cl, subscription{})
			}
			sink := attach(b, s, "sink", 0, "site/7/device/12345/temp")
			eventually(b, "sink subscribed", func() bool { return s.subs.Len() == n+1 })
			m := &session.Message{Topic: "site/7/device/12345/temp", Payload: []byte("21.5")}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.route(m, nil)
			}
			b.StopTimer()
			sink.Close()
		})
	}
}

// BenchmarkPublishDeliver routes QoS 0 messages in process to subscribers
// connected through in-memory connections, through their sessions and
// writers, and waits until every delivery is written.
func BenchmarkPublishDeliver(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			s := newBenchServer(b, Config{MaxQueued: 1 << 20})
			conns := make([]*fakeConn, n)
			for i := range conns {
				conns[i] = attach(b, s, fmt.Sprintf("sub%d", i), 0, "bench/+/t")
			}
			eventually(b, "subscribed", func() bool { return s.subs.Len() == n })
			m := &session.Message{Topic: "bench/x/t", Payload: make([]byte, 64)}
			size, _ := packet.Append(nil, &packet.Publish{Topic: m.Topic, Payload: m.Payload}, packet.V311)
			base := make([]int64, n)
			for i, c := range conns {
				base[i] = c.written.Load()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.route(m, nil)
			}
			want := int64(b.N) * int64(len(size))
			for i, c := range conns {
				for c.written.Load()-base[i] < want {
					if s.Stats().Dropped > 0 {
						b.Fatalf("dropped %d", s.Stats().Dropped)
					}
					runtime.Gosched()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
			for _, c := range conns {
				c.Close()
			}
		})
	}
}

// BenchmarkIdleConnectionMemory opens 2,000 loopback connections that
// CONNECT (MQTT 5, keep alive 60 s, like tern bench conn) and sit idle, and
// reports the heap and stack the broker holds per connection (the client
// sockets' own cost, measured alone first, is subtracted): parked (the
// default on Linux) and with a goroutine per connection (DisableParking).
func BenchmarkIdleConnectionMemory(b *testing.B) {
	const n = 2000
	for _, mode := range []struct {
		name string
		cfg  Config
	}{{"parked", Config{}}, {"goroutine", Config{DisableParking: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			for range b.N {
				rawHeap, rawStack := idleCost(b, n, nil)
				heap, stack := idleCost(b, n, &mode.cfg)
				b.ReportMetric(heap+stack, "bytes/conn")
				b.ReportMetric(heap+stack-rawHeap-rawStack, "broker-bytes/conn")
				b.ReportMetric(heap-rawHeap, "broker-heap-bytes/conn")
				b.ReportMetric(stack-rawStack, "broker-stack-bytes/conn")
			}
		})
	}
}

func inuse() (heap, stack uint64) {
	for range 6 { // each cycle may halve idle goroutine stacks
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}

// idleCost returns the memory per idle connection: with a broker
// configuration, CONNECTed broker connections; without, bare accepted TCP
// connection pairs.
func idleCost(b *testing.B, n int, cfg *Config) (heap, stack float64) {
	broker := cfg != nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var s *Server
	accepted := make(chan net.Conn, n)
	done := make(chan struct{})
	if broker {
		c := *cfg
		c.Logger = testLogger()
		s, err = New(c)
		if err != nil {
			b.Fatal(err)
		}
		go func() { s.Serve(ln); close(done) }()
	} else {
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}()
	}
	clients := make([]net.Conn, 0, n)
	heap0, stack0 := inuse()
	connect, _ := packet.Append(nil, &packet.Connect{Version: packet.V5, CleanStart: true, KeepAlive: 60}, packet.V5)
	for i := range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
		if broker {
			c.Write(connect)
			var ack [128]byte // CONNACK: its remaining length fits in one byte
			if _, err := io.ReadFull(c, ack[:2]); err != nil {
				b.Fatalf("conn %d: %v", i, err)
			}
			if _, err := io.ReadFull(c, ack[2:2+ack[1]]); err != nil {
				b.Fatalf("conn %d: %v", i, err)
			}
		}
	}
	var server []net.Conn
	if !broker {
		for range n {
			server = append(server, <-accepted)
		}
	}
	heap1, stack1 := inuse()
	if broker {
		if got := s.Stats().Clients; got != int64(n) {
			b.Fatalf("%d clients connected, want %d", got, n)
		}
	}
	for _, c := range clients {
		c.Close()
	}
	for _, c := range server {
		c.Close()
	}
	if broker {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.Shutdown(ctx)
		cancel()
	} else {
		ln.Close()
	}
	<-done
	return (float64(heap1) - float64(heap0)) / float64(n), (float64(stack1) - float64(stack0)) / float64(n)
}

// BenchmarkFanIn routes QoS 0 messages from parallel publishers
// (GOMAXPROCS goroutines, or -cpu) to one subscriber connected through an
// in-memory connection, and waits until every delivery is written. The
// publishers hold back while 500 messages are routed and not yet written
// (the subscriber's backlog bound is 1,000), like publishers whose sockets
// fill: the time per operation is that of the whole path, without drops.
func BenchmarkFanIn(b *testing.B) {
	s := newBenchServer(b, Config{})
	sink := attach(b, s, "sink", 0, "bench/+/t")
	eventually(b, "subscribed", func() bool { return s.subs.Len() == 1 })
	m := &session.Message{Topic: "bench/x/t", Payload: make([]byte, 64)}
	frame, _ := packet.Append(nil, &packet.Publish{Topic: m.Topic, Payload: m.Payload}, packet.V311)
	size := int64(len(frame))
	base := sink.written.Load()
	written := func() int64 { return (sink.written.Load() - base) / size }
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		now := time.Now()
		for pb.Next() {
			for n.Load()-written() > 500 {
				runtime.Gosched()
			}
			s.routeAt(m, nil, now, nil)
			n.Add(1)
		}
	})
	for written() < n.Load() {
		if d := s.Stats().Dropped; d > 0 {
			b.Fatalf("dropped %d", d)
		}
		runtime.Gosched()
	}
	b.StopTimer()
	sink.Close()
}
