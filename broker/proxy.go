package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// PROXY protocol (HAProxy's specification, versions 1 and 2): a load
// balancer that forwards TCP connections sends, before the client's bytes,
// one header naming the client's address. A listener wrapped by
// ProxyProtocolListener reads that header from every connection it
// accepts and returns connections whose RemoteAddr is the client's: the
// logs, the rate limits, the bans, the Authenticator and the metrics see
// the client, not the load balancer.

// DefaultProxyHeaderTimeout bounds the wait for a PROXY protocol header.
const DefaultProxyHeaderTimeout = 5 * time.Second

// maxPendingProxy bounds the connections of one listener whose header is
// still awaited; beyond it new connections are closed at once.
const maxPendingProxy = 4096

// proxyV2Sig is the signature opening a version 2 header.
var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// Lengths of the PROXY protocol headers.
const (
	proxyV1Min = len("PROXY UNKNOWN\r\n") // the shortest header of either version
	proxyV1Max = 107                      // the longest version 1 header, CRLF included
	proxyV2Fix = 16                       // signature, version and command, family, length
)

// proxyRefused counts the connections closed by every
// ProxyProtocolListener of the process for a missing or invalid header
// (the listeners are not tied to a Server): tern_limit_refusals_total
// {kind="proxy protocol header"}.
var proxyRefused atomic.Int64

var (
	errProxyNoHeader = errors.New("no PROXY protocol header")
	errProxyV1       = errors.New("malformed PROXY protocol v1 header")
	errProxyV2       = errors.New("malformed PROXY protocol v2 header")
)

// proxyHeader is a parsed PROXY protocol header. src is the client's
// address; nil for a LOCAL command (v2), an UNKNOWN protocol (v1) or an
// address family other than IPv4 and IPv6: the connection's own address
// then stands.
type proxyHeader struct {
	version int // 1 or 2
	src     *net.TCPAddr
	dst     *net.TCPAddr
}

// parseProxyHeader parses the header at the start of b. more > 0 means b
// is a valid beginning of a header that needs at least more bytes; n is
// the header's length once complete. A header never needs fewer than
// proxyV1Min bytes, so reading exactly what more asks for never reads past
// the header.
func parseProxyHeader(b []byte) (h proxyHeader, n, more int, err error) {
	if len(b) == 0 {
		return h, 0, proxyV1Min, nil
	}
	switch b[0] {
	case 'P':
		return parseProxyV1(b)
	case '\r':
		return parseProxyV2(b)
	}
	return h, 0, 0, errProxyNoHeader
}

// parseProxyV1 parses "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n".
func parseProxyV1(b []byte) (h proxyHeader, n, more int, err error) {
	const prefix = "PROXY "
	if !bytes.HasPrefix(b, []byte(prefix)) {
		if len(b) < len(prefix) && bytes.HasPrefix([]byte(prefix), b) {
			return h, 0, proxyV1Min - len(b), nil
		}
		return h, 0, 0, errProxyNoHeader
	}
	end := bytes.IndexByte(b[:min(len(b), proxyV1Max)], '\n')
	if end < 0 {
		if len(b) >= proxyV1Max {
			return h, 0, 0, fmt.Errorf("%w: no CRLF within %d bytes", errProxyV1, proxyV1Max)
		}
		return h, 0, max(1, proxyV1Min-len(b)), nil
	}
	if b[end-1] != '\r' {
		return h, 0, 0, fmt.Errorf("%w: LF without CR", errProxyV1)
	}
	line := string(b[len(prefix) : end-1])
	h.version, n = 1, end+1
	f := splitSpaces(line)
	if len(f) > 0 && f[0] == "UNKNOWN" {
		return h, n, 0, nil // the rest is to be ignored
	}
	if len(f) != 5 || (f[0] != "TCP4" && f[0] != "TCP6") {
		return h, 0, 0, fmt.Errorf("%w: %q", errProxyV1, line)
	}
	src, err1 := netip.ParseAddr(f[1])
	dst, err2 := netip.ParseAddr(f[2])
	sport, ok1 := parsePort(f[3])
	dport, ok2 := parsePort(f[4])
	v4 := f[0] == "TCP4"
	if err1 != nil || err2 != nil || !ok1 || !ok2 || src.Zone() != "" || dst.Zone() != "" ||
		src.Is4() != v4 || dst.Is4() != v4 {
		return h, 0, 0, fmt.Errorf("%w: %q", errProxyV1, line)
	}
	h.src = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, sport))
	h.dst = net.TCPAddrFromAddrPort(netip.AddrPortFrom(dst, dport))
	return h, n, 0, nil
}

// splitSpaces splits s at single spaces.
func splitSpaces(s string) []string {
	var f []string
	for {
		i := 0
		for i < len(s) && s[i] != ' ' {
			i++
		}
		f = append(f, s[:i])
		if i == len(s) || len(f) > 6 {
			return f
		}
		s = s[i+1:]
	}
}

// parsePort parses a decimal port of 1 to 5 digits, at most 65535.
func parsePort(s string) (uint16, bool) {
	if len(s) == 0 || len(s) > 5 {
		return 0, false
	}
	v := 0
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return uint16(v), v <= 65535
}

// parseProxyV2 parses the binary header: the signature, version 2 and the
// command (LOCAL 0, PROXY 1), the address family and transport, the
// length of the addresses and TLVs (ignored) that follow.
func parseProxyV2(b []byte) (h proxyHeader, n, more int, err error) {
	if k := min(len(b), len(proxyV2Sig)); !bytes.Equal(b[:k], proxyV2Sig[:k]) {
		return h, 0, 0, errProxyNoHeader
	}
	if len(b) < proxyV2Fix {
		return h, 0, proxyV2Fix - len(b), nil
	}
	verCmd, fam := b[12], b[13]
	if verCmd>>4 != 2 {
		return h, 0, 0, fmt.Errorf("%w: version %d", errProxyV2, verCmd>>4)
	}
	cmd := verCmd & 0xF
	if cmd > 1 {
		return h, 0, 0, fmt.Errorf("%w: command %d", errProxyV2, cmd)
	}
	af, proto := fam>>4, fam&0xF
	if af > 3 || proto > 2 {
		return h, 0, 0, fmt.Errorf("%w: address family and protocol %#02x", errProxyV2, fam)
	}
	length := int(binary.BigEndian.Uint16(b[14:16]))
	n = proxyV2Fix + length
	if len(b) < n {
		return h, 0, n - len(b), nil
	}
	h.version = 2
	addrs := b[proxyV2Fix:n]
	var size int
	switch af {
	case 1:
		size = 12
	case 2:
		size = 36
	case 3:
		size = 216
	}
	if length < size {
		return h, 0, 0, fmt.Errorf("%w: %d bytes of addresses, family %d needs %d", errProxyV2, length, af, size)
	}
	if cmd == 0 || proto == 0 || (af != 1 && af != 2) {
		return h, n, 0, nil // LOCAL, or no IP address: the connection's own
	}
	ipLen := 4
	if af == 2 {
		ipLen = 16
	}
	src, _ := netip.AddrFromSlice(addrs[:ipLen])
	dst, _ := netip.AddrFromSlice(addrs[ipLen : 2*ipLen])
	ports := addrs[2*ipLen:]
	h.src = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, binary.BigEndian.Uint16(ports)))
	h.dst = net.TCPAddrFromAddrPort(netip.AddrPortFrom(dst, binary.BigEndian.Uint16(ports[2:])))
	return h, n, 0, nil
}

// readProxyHeader reads one header from r, never a byte past it: the
// client's bytes stay unread on the connection.
func readProxyHeader(r io.Reader) (proxyHeader, error) {
	buf := make([]byte, 0, proxyV1Max+1)
	for {
		h, n, more, err := parseProxyHeader(buf)
		switch {
		case err != nil:
			return h, err
		case n > 0:
			return h, nil
		}
		buf = append(buf, make([]byte, more)...)
		if _, err := io.ReadFull(r, buf[len(buf)-more:]); err != nil {
			if len(buf) == more && errors.Is(err, io.EOF) {
				return h, io.EOF // closed before any byte: a health check
			}
			return h, fmt.Errorf("reading the PROXY protocol header: %w", err)
		}
	}
}

// ProxyProtocolListener wraps ln, a listener behind a load balancer that
// sends the PROXY protocol (version 1 or 2, both accepted): each accepted
// connection must start with a header, read within timeout
// (DefaultProxyHeaderTimeout when 0), and its RemoteAddr is then the
// client's address from the header (the load balancer's own for a LOCAL
// or UNKNOWN header). A connection without a valid header is closed and
// logged. Headers are read in their own goroutines: a slow connection does
// not hold up the others. Wrap the TCP listener, under TLS or WebSocket:
// the header comes before the TLS handshake.
func ProxyProtocolListener(ln net.Listener, timeout time.Duration, log *slog.Logger) net.Listener {
	if timeout <= 0 {
		timeout = DefaultProxyHeaderTimeout
	}
	if log == nil {
		log = slog.Default()
	}
	l := &proxyListener{ln: ln, timeout: timeout, log: log, conns: make(chan net.Conn),
		closed: make(chan struct{}), ended: make(chan struct{}), pending: make(map[net.Conn]struct{})}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

type proxyListener struct {
	ln      net.Listener
	timeout time.Duration
	log     *slog.Logger
	conns   chan net.Conn
	closed  chan struct{}
	ended   chan struct{} // the accept loop ended, with err
	err     error
	once    sync.Once
	wg      sync.WaitGroup

	mu      sync.Mutex
	pending map[net.Conn]struct{} // connections whose header is awaited
}

func (l *proxyListener) acceptLoop() {
	defer l.wg.Done()
	defer close(l.ended)
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-l.closed:
				}
			}
			l.err = err
			return
		}
		delay = 0
		l.mu.Lock()
		select {
		case <-l.closed:
			l.mu.Unlock()
			nc.Close()
			continue
		default:
		}
		if len(l.pending) >= maxPendingProxy {
			l.mu.Unlock()
			l.log.Warn("connection closed: too many PROXY protocol headers awaited", "remote", nc.RemoteAddr().String(),
				"pending", maxPendingProxy)
			nc.Close()
			continue
		}
		l.pending[nc] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.handshake(nc)
	}
}

// handshake reads the header of nc and hands the connection to Accept.
func (l *proxyListener) handshake(nc net.Conn) {
	defer l.wg.Done()
	nc.SetReadDeadline(time.Now().Add(l.timeout))
	h, err := readProxyHeader(nc)
	nc.SetReadDeadline(time.Time{})
	l.mu.Lock()
	delete(l.pending, nc)
	l.mu.Unlock()
	if err != nil {
		if !errors.Is(err, io.EOF) { // not a health check
			proxyRefused.Add(1)
		}
		nc.Close()
		switch {
		case errors.Is(err, io.EOF):
			l.log.Debug("connection closed before its PROXY protocol header", "remote", nc.RemoteAddr().String())
		case errors.Is(err, os.ErrDeadlineExceeded):
			l.log.Warn("connection closed: no PROXY protocol header in time", "remote", nc.RemoteAddr().String(), "timeout", l.timeout)
		default:
			l.log.Warn("connection closed: invalid PROXY protocol header", "remote", nc.RemoteAddr().String(), "err", err)
		}
		return
	}
	var pc net.Conn = &proxyConn{Conn: nc, src: h.src}
	select {
	case l.conns <- pc:
	case <-l.closed:
		nc.Close()
	}
}

func (l *proxyListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.conns:
		return nc, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.ended:
		select {
		case <-l.closed:
			return nil, net.ErrClosed
		default:
		}
		return nil, l.err
	}
}

// Close closes the listener and the connections whose header is awaited,
// and waits for its goroutines.
func (l *proxyListener) Close() error {
	var err error
	l.once.Do(func() {
		l.mu.Lock()
		close(l.closed)
		for nc := range l.pending {
			nc.Close()
		}
		l.mu.Unlock()
		err = l.ln.Close()
		l.wg.Wait()
	})
	return err
}

func (l *proxyListener) Addr() net.Addr { return l.ln.Addr() }

// proxyConn is a connection accepted by ProxyProtocolListener, its header
// consumed. A distinct type that exposes no file descriptor: it is served
// as any net.Conn, with the client's address.
type proxyConn struct {
	net.Conn
	src *net.TCPAddr // nil: the connection's own address
}

// RemoteAddr returns the client's address from the header.
func (c *proxyConn) RemoteAddr() net.Addr {
	if c.src != nil {
		return c.src
	}
	return c.Conn.RemoteAddr()
}
