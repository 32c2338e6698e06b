package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// Exit codes of tern pub, sub and rr (documented in docs/client.md).
const (
	exitOK      = 0
	exitError   = 1 // network failure, protocol error, anything else
	exitUsage   = 2 // invalid flags
	exitRefused = 3 // the server refused the connection (CONNACK reason code)
	exitReason  = 4 // the server refused a publication or subscription
	exitTimeout = 5 // -W elapsed before the expected messages or response
)

// exitErr carries a process exit code, which main uses.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

// ExitCode is the process exit code for the error.
func (e *exitErr) ExitCode() int { return e.code }

func usageErr(format string, a ...any) error {
	return &exitErr{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// exitCode maps an error of pub, sub or rr to the documented exit codes.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitErr
	if errors.As(err, &ee) {
		return ee.code
	}
	var re *client.ReasonError
	if errors.As(err, &re) {
		if re.Op == "connect" {
			return exitRefused
		}
		if strings.HasPrefix(re.Op, "publish") || strings.HasPrefix(re.Op, "subscribe") || strings.HasPrefix(re.Op, "unsubscribe") {
			return exitReason
		}
	}
	return exitError
}

// withExitCode wraps the RunE of a client command so that its error
// carries the documented exit code, for main.
func withExitCode(run func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := run(cmd, args)
		if code := exitCode(err); code > exitError {
			var ee *exitErr
			if !errors.As(err, &ee) {
				err = &exitErr{code: code, err: err}
			}
		}
		return err
	}
}

// clientFlags are the connection flags shared by pub, sub and rr, named
// like mosquitto_pub and mosquitto_sub's.
type clientFlags struct {
	host      string
	port      int
	url       string
	id        string
	idPrefix  string
	user      string
	password  string
	authMeth  string
	version   string
	keepAlive int
	noClean   bool
	expiry    uint32
	qos       int
	props     []string
	debug     bool
	json      bool
	timeout   time.Duration

	willTopic   string
	willPayload string
	willQoS     int
	willRetain  bool

	caFile     string
	certFile   string
	keyFile    string
	serverName string
	insecure   bool
	tls        bool
}

// add registers the flags on cmd. cobra's help shorthand -h is taken
// back: -h is the host, as in mosquitto.
func (f *clientFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.Bool("help", false, "help for "+cmd.Name())
	fs.StringVarP(&f.host, "host", "h", "localhost", "server host")
	fs.IntVarP(&f.port, "port", "p", 0, "server port (default 1883, 8883 with TLS)")
	fs.StringVarP(&f.url, "url", "L", "", "server URL mqtt(s)://[user[:password]@]host[:port][/topic], or ws(s)://host[:port][/path] (path default /mqtt)")
	fs.StringVarP(&f.id, "id", "i", "", "client identifier (default: assigned by an MQTT 5 server, random otherwise)")
	fs.StringVarP(&f.idPrefix, "id-prefix", "I", "", "client identifier prefix, completed with the process id")
	fs.StringVarP(&f.user, "username", "u", "", "user name")
	fs.StringVarP(&f.password, "pw", "P", "", "password")
	fs.StringVar(&f.authMeth, "auth-method", "", "MQTT 5 enhanced authentication with -u and -P instead of sending them: SCRAM-SHA-256")
	fs.StringVarP(&f.version, "protocol-version", "V", "311", "protocol version: 31, 311 or 5 (also mqttv31, mqttv311, mqttv5)")
	fs.IntVarP(&f.keepAlive, "keepalive", "k", 60, "keep alive in seconds (0 disables)")
	fs.BoolVarP(&f.noClean, "disable-clean-session", "c", false, "keep the session when disconnected (persistent session)")
	fs.Uint32VarP(&f.expiry, "session-expiry-interval", "x", 0, "MQTT 5 session expiry interval in seconds (with -c default: never)")
	fs.IntVarP(&f.qos, "qos", "q", 0, "quality of service: 0, 1 or 2")
	fs.StringArrayVarP(&f.props, "property", "D", nil, "MQTT 5 property: -D command identifier value (e.g. -D publish user-property key value)")
	fs.BoolVarP(&f.debug, "debug", "d", false, "log connection events to stderr")
	fs.BoolVar(&f.json, "json", false, "print JSON lines")
	fs.StringVar(&f.willTopic, "will-topic", "", "will topic")
	fs.StringVar(&f.willPayload, "will-payload", "", "will payload")
	fs.IntVar(&f.willQoS, "will-qos", 0, "will QoS")
	fs.BoolVar(&f.willRetain, "will-retain", false, "retain the will")
	fs.StringVar(&f.caFile, "cafile", "", "CA certificates (PEM) to verify the server; implies TLS")
	fs.StringVar(&f.certFile, "cert", "", "client certificate (PEM)")
	fs.StringVar(&f.keyFile, "key", "", "client private key (PEM)")
	fs.StringVar(&f.serverName, "tls-servername", "", "server name to verify (default: the host)")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the server certificate")
	fs.BoolVar(&f.tls, "tls", false, "use TLS (mqtts) with the system roots")
}

// parseVersion reads -V.
func parseVersion(s string) (packet.Version, error) {
	switch strings.TrimPrefix(strings.ToLower(s), "mqttv") {
	case "31", "3", "3.1":
		return packet.V31, nil
	case "311", "4", "3.1.1":
		return packet.V311, nil
	case "5", "50", "5.0":
		return packet.V5, nil
	}
	return 0, usageErr("-V %q: want 31, 311 or 5", s)
}

// cmdProps are the -D properties by MQTT 5 command (connect, publish,
// subscribe, will).
type cmdProps map[string]*packet.Properties

func (c cmdProps) get(cmd string) *packet.Properties {
	if p := c[cmd]; p != nil {
		return p
	}
	return nil
}

// parseProps pairs each -D command with its identifier and values, taken
// in order from the positional arguments (pflag gives -D one value; the
// rest of "-D publish user-property key value" lands in args, in order).
func parseProps(cmds []string, args []string) (cmdProps, error) {
	out := cmdProps{}
	for _, c := range cmds {
		if len(args) < 2 {
			return nil, usageErr("-D %s: want -D command identifier value", c)
		}
		id, vals := args[0], args[1:]
		n := 1
		if id == "user-property" {
			n = 2
		}
		if len(vals) < n {
			return nil, usageErr("-D %s %s: missing value", c, id)
		}
		args = vals[n:]
		vals = vals[:n]
		switch c {
		case "connect", "publish", "subscribe", "will":
		default:
			return nil, usageErr("-D %s: unknown command (connect, publish, subscribe, will)", c)
		}
		p := out[c]
		if p == nil {
			p = &packet.Properties{}
			out[c] = p
		}
		if err := setProp(p, id, vals); err != nil {
			return nil, usageErr("-D %s %s: %v", c, id, err)
		}
	}
	if len(args) > 0 {
		return nil, usageErr("unexpected arguments %q", args)
	}
	return out, nil
}

func setProp(p *packet.Properties, id string, v []string) error {
	u32 := func() (uint32, error) {
		n, err := strconv.ParseUint(v[0], 10, 32)
		return uint32(n), err
	}
	var err error
	switch id {
	case "user-property":
		p.User = append(p.User, packet.UserProperty{Key: v[0], Value: v[1]})
		p.Set(packet.PropUserProperty)
	case "content-type":
		p.ContentType = v[0]
		p.Set(packet.PropContentType)
	case "response-topic":
		p.ResponseTopic = v[0]
		p.Set(packet.PropResponseTopic)
	case "correlation-data":
		p.CorrelationData = []byte(v[0])
		p.Set(packet.PropCorrelationData)
	case "payload-format-indicator":
		var n uint32
		n, err = u32()
		p.PayloadFormat = byte(n)
		p.Set(packet.PropPayloadFormat)
	case "message-expiry-interval":
		p.MessageExpiry, err = u32()
		p.Set(packet.PropMessageExpiry)
	case "session-expiry-interval":
		p.SessionExpiry, err = u32()
		p.Set(packet.PropSessionExpiry)
	case "will-delay-interval":
		p.WillDelay, err = u32()
		p.Set(packet.PropWillDelay)
	case "subscription-identifier":
		var n uint32
		n, err = u32()
		p.SubscriptionIDs = []uint32{n}
	case "request-response-information":
		var n uint32
		n, err = u32()
		p.RequestResponseInfo = byte(n)
		p.Set(packet.PropRequestResponseInfo)
	case "request-problem-information":
		var n uint32
		n, err = u32()
		p.RequestProblemInfo = byte(n)
		p.Set(packet.PropRequestProblemInfo)
	case "authentication-method":
		p.AuthMethod = v[0]
		p.Set(packet.PropAuthMethod)
	case "authentication-data":
		p.AuthData = []byte(v[0])
		p.Set(packet.PropAuthData)
	case "reason-string":
		p.ReasonString = v[0]
		p.Set(packet.PropReasonString)
	default:
		return fmt.Errorf("unknown or unsupported property %q", id)
	}
	return err
}

// options builds the client options. topic is set from an -L URL's path.
func (f *clientFlags) options(cmd *cobra.Command, props cmdProps, topic *[]string) (client.Options, error) {
	o, err := f.connOptions(cmd, props, topic)
	if err != nil || f.authMeth == "" {
		return o, err
	}
	// --auth-method: the user name and password (of -u/-P or the URL)
	// prove the client through the exchange, and are not sent.
	if !strings.EqualFold(f.authMeth, "SCRAM-SHA-256") {
		return o, usageErr("--auth-method %q: want SCRAM-SHA-256", f.authMeth)
	}
	if o.Version != packet.V5 {
		return o, usageErr("--auth-method needs MQTT 5 (-V 5)")
	}
	if o.Username == "" {
		return o, usageErr("--auth-method SCRAM-SHA-256 needs a user name (-u)")
	}
	if o.ConnectProperties != nil && o.ConnectProperties.Has(packet.PropAuthMethod) {
		return o, usageErr("--auth-method and -D connect authentication-method exclude each other")
	}
	o.Auth = client.SCRAMSHA256(o.Username, string(o.Password))
	o.Username, o.Password = "", nil
	return o, nil
}

func (f *clientFlags) connOptions(cmd *cobra.Command, props cmdProps, topic *[]string) (client.Options, error) {
	v, err := parseVersion(f.version)
	if err != nil {
		return client.Options{}, err
	}
	if f.qos < 0 || f.qos > 2 {
		return client.Options{}, usageErr("-q %d: want 0, 1 or 2", f.qos)
	}
	if f.keepAlive < 0 || f.keepAlive > 65535 {
		return client.Options{}, usageErr("-k %d: want 0 to 65535", f.keepAlive)
	}
	if len(props) > 0 && v != packet.V5 {
		return client.Options{}, usageErr("-D needs MQTT 5 (-V 5)")
	}
	o := client.Options{Version: v, ClientID: f.id, Username: f.user, CleanStart: !f.noClean}
	if f.password != "" {
		o.Password = []byte(f.password)
	}
	if f.id == "" && f.idPrefix != "" {
		o.ClientID = f.idPrefix + strconv.Itoa(os.Getpid())
	}
	o.KeepAlive = time.Duration(f.keepAlive) * time.Second
	if f.keepAlive == 0 {
		o.KeepAlive = -1
	}
	if f.noClean && v == packet.V5 {
		o.SessionExpiry = time.Duration(0xFFFFFFFF) * time.Second
	}
	if f.expiry > 0 {
		o.SessionExpiry = time.Duration(f.expiry) * time.Second
	}
	o.ConnectProperties = props.get("connect")
	if o.ConnectProperties != nil && o.ConnectProperties.Has(packet.PropSessionExpiry) {
		o.SessionExpiry = time.Duration(o.ConnectProperties.SessionExpiry) * time.Second
	}
	if f.willTopic != "" {
		o.Will = &client.Message{Topic: f.willTopic, Payload: []byte(f.willPayload), QoS: packet.QoS(f.willQoS), Retain: f.willRetain,
			Properties: props.get("will")}
	}
	scheme, host, port := "mqtt", f.host, f.port
	useTLS := f.tls || f.caFile != "" || f.certFile != "" || f.insecure
	if f.url != "" {
		u, err := url.Parse(f.url)
		if err != nil || u.Host == "" {
			return o, usageErr("-L %q: want mqtt(s)://[user[:password]@]host[:port][/topic]", f.url)
		}
		switch u.Scheme {
		case "mqtt", "tcp":
		case "mqtts", "ssl", "tls":
			useTLS = true
		case "ws", "wss":
			// MQTT over WebSocket: the path is the HTTP path, not a topic.
			if u.Scheme == "wss" || useTLS {
				cfg, err := client.TLSFiles(f.caFile, f.certFile, f.keyFile, f.serverName, f.insecure)
				if err != nil {
					return o, err
				}
				o.TLSConfig = cfg
			}
			if u.User != nil {
				o.Username = u.User.Username()
				if pw, ok := u.User.Password(); ok {
					o.Password = []byte(pw)
				}
				u.User = nil
			}
			o.Servers = []string{u.String()}
			if f.debug {
				o.Logger = debugLogger(cmd.ErrOrStderr())
			}
			return o, nil
		default:
			return o, usageErr("-L %q: unknown scheme %q", f.url, u.Scheme)
		}
		host = u.Hostname()
		if p := u.Port(); p != "" {
			port, _ = strconv.Atoi(p)
		}
		if u.User != nil {
			o.Username = u.User.Username()
			if pw, ok := u.User.Password(); ok {
				o.Password = []byte(pw)
			}
		}
		if t := strings.TrimPrefix(u.Path, "/"); t != "" && topic != nil {
			*topic = append(*topic, t)
		}
	}
	if useTLS {
		scheme = "mqtts"
		cfg, err := client.TLSFiles(f.caFile, f.certFile, f.keyFile, f.serverName, f.insecure)
		if err != nil {
			return o, err
		}
		o.TLSConfig = cfg
	}
	if port == 0 {
		port = 1883
		if useTLS {
			port = 8883
		}
	}
	o.Servers = []string{scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))}
	if f.debug {
		o.Logger = debugLogger(cmd.ErrOrStderr())
	}
	return o, nil
}

// disconnect ends c politely.
func disconnect(c *client.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Disconnect(ctx, packet.Success)
}

func debugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
