package main

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve listens, answers CONNECT, logs that anonymous access is allowed,
// and stops when its context ends, telling MQTT 5 clients with DISCONNECT
// 0x8B (Server shutting down).
func TestServeRunsAndShutsDown(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, log, []string{"127.0.0.1:0"}, func(a []net.Addr) { addrc <- a[0] })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	nc, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b, _ := packet.Append(nil, &packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "c"}, packet.V5)
	nc.Write(b)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	p, err := packet.ReadPacket(br, packet.V5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode != 0 {
		t.Fatalf("got %+v, want CONNACK 0", p)
	}
	cancel()
	p, err = packet.ReadPacket(br, packet.V5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := p.(*packet.Disconnect); !ok || d.ReasonCode != packet.ServerShuttingDown {
		t.Fatalf("got %+v, want DISCONNECT 0x8B", p)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return")
	}
	if !strings.Contains(logs.String(), "anonymous access allowed") {
		t.Errorf("log does not say anonymous access is allowed:\n%s", logs.String())
	}
}

func TestServeRejectsBadLogLevel(t *testing.T) {
	cmd := newRootCmd()
	cmd.SetArgs([]string{"serve", "--log-level", "loud"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "log-level") {
		t.Fatalf("got %v, want an error about --log-level", err)
	}
}
