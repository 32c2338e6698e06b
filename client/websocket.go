package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/coder/websocket"
)

// dialWebSocket opens MQTT over WebSocket: an HTTP upgrade with the
// subprotocol "mqtt", MQTT packets carried in binary messages.
func dialWebSocket(ctx context.Context, u *url.URL, tlsCfg *tls.Config) (net.Conn, error) {
	opts := &websocket.DialOptions{Subprotocols: []string{"mqtt"}}
	if u.Scheme == "wss" && tlsCfg != nil {
		cfg := tlsCfg.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	target := *u
	target.User = nil // credentials go in CONNECT
	c, resp, err := websocket.Dial(ctx, target.String(), opts)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("client: websocket: %w", err)
	}
	if c.Subprotocol() != "mqtt" {
		c.Close(websocket.StatusPolicyViolation, "subprotocol mqtt required")
		return nil, fmt.Errorf("client: websocket: the server did not accept the mqtt subprotocol")
	}
	c.SetReadLimit(-1) // packets are bounded by Options.MaxPacketSize
	// The connection outlives the dial context.
	return websocket.NetConn(context.WithoutCancel(ctx), c, websocket.MessageBinary), nil
}
