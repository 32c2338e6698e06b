package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/packet"
)

// connected is a raw client connection after an accepted CONNECT.
type connected struct {
	nc net.Conn
	br *bufio.Reader
	v  packet.Version
}

func connectRaw(t *testing.T, addr string, v packet.Version, id string) *connected {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &connected{nc: nc, br: bufio.NewReader(nc), v: v}
	b, _ := packet.Append(nil, &packet.Connect{Version: v, ClientID: id, KeepAlive: 60}, v)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(b)
	if p, err := packet.ReadPacket(c.br, v, 0); err != nil {
		t.Fatal(err)
	} else if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode != 0 {
		t.Fatalf("got %+v, want CONNACK 0", p)
	}
	return c
}

// redirected checks the server sends DISCONNECT code with the Server
// Reference ref and closes the connection.
func (c *connected) redirected(t *testing.T, code packet.ReasonCode, ref string) {
	t.Helper()
	c.nc.SetDeadline(time.Now().Add(5 * time.Second))
	p, err := packet.ReadPacket(c.br, c.v, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := p.(*packet.Disconnect); !ok || d.ReasonCode != code || d.Properties.ServerReference != ref {
		t.Fatalf("got %+v, want DISCONNECT %#x with Server Reference %q", p, byte(code), ref)
	}
	c.closed(t)
}

func (c *connected) closed(t *testing.T) {
	t.Helper()
	c.nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("read %v, want the connection closed", err)
	}
}

// SIGUSR1 drains tern serve with the configured options: MQTT 5 clients
// get DISCONNECT 0x9D (Server moved) with the reference, 3.1.1 clients are
// closed, and the server stops.
func TestServeDrainOnSIGUSR1(t *testing.T) {
	addrs, logs := startServe(t, &serveOptions{listen: []string{"127.0.0.1:0"},
		drainReference: "b2.example:1883", drainMoved: true})
	addr := addrs[0].String()
	v5 := connectRaw(t, addr, packet.V5, "five")
	v3 := connectRaw(t, addr, packet.V311, "three")
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	v5.redirected(t, packet.ServerMoved, "b2.example:1883")
	v3.closed(t)
	waitLog(t, logs, "stopped")
}

// POST /drain on the admin listener drains with the options of its query.
func TestServeDrainOverAdmin(t *testing.T) {
	addrs, logs := startServe(t, &serveOptions{listen: []string{"127.0.0.1:0"}, adminListen: "127.0.0.1:0",
		drainReference: "b2.example:1883"})
	v5 := connectRaw(t, addrs[0].String(), packet.V5, "five")
	resp, err := http.Post("http://"+addrs[1].String()+"/drain?server_reference=b3.example:1883", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /drain: %s", resp.Status)
	}
	v5.redirected(t, packet.UseAnotherServer, "b3.example:1883")
	waitLog(t, logs, "stopped")
}

// The /drain handler: loopback peers only, options checked, one drain.
func TestDrainHandler(t *testing.T) {
	dr := (&serveOptions{drainReference: "b2", drainRate: 5}).newDrainer()
	h := dr.handler()
	post := func(remote, query string) int {
		r := httptest.NewRequest("POST", "/drain"+query, nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h(w, r)
		return w.Code
	}
	for _, tc := range []struct {
		remote, query string
		code          int
	}{
		{"192.0.2.1:4000", "", http.StatusForbidden},
		{"127.0.0.1:4000", "?moved=maybe", http.StatusBadRequest},
		{"[::1]:4000", "?rate=-1", http.StatusBadRequest},
		{"127.0.0.1:4000", "?moved=true", http.StatusAccepted},
		{"127.0.0.1:4000", "", http.StatusConflict},
	} {
		if code := post(tc.remote, tc.query); code != tc.code {
			t.Errorf("POST /drain%s from %s: %d, want %d", tc.query, tc.remote, code, tc.code)
		}
	}
	if got := <-dr.req; got != (broker.DrainOptions{ServerReference: "b2", Moved: true, Rate: 5}) {
		t.Fatalf("requested %+v", got)
	}
}
