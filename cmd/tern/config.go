package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/broker"
)

// serveOptions are the options of tern serve, from flags and the
// configuration file.
type serveOptions struct {
	listen       []string
	tlsListen    []string
	wsListen     []string
	wssListen    []string
	certFile     string
	keyFile      string
	clientCA     string
	certAsUser   bool
	identityFrom string

	proxyProtocol      []string
	proxyHeaderTimeout time.Duration

	listenerSettingsRaw []string // --listener-settings (listeners.settings)
	lnAddrs             []string // the configured address of each listener opened
	intervalStore       bool     // the store syncs every interval (--durability interval)

	certs *broker.Certificates // the TLS files, once the listeners are open

	// rereadLimits reads the limits again on SIGHUP (nil: they stay).
	rereadLimits func() (broker.Limits, error)

	connectionRate  float64
	connectionBurst int
	banThreshold    int
	banWindow       time.Duration
	banDuration     time.Duration

	maxSubscriptions    int
	maxConnsPerListener int
	maxTopicLength      int
	maxTopicLevels      int
	slowConsumerTimeout time.Duration

	configFile string

	maxConnections   int
	maxPacketSize    int
	maxClientIDLen   int
	publishRate      float64
	publishBurst     int
	receiveMaximum   int
	maxQueued        int
	maxQueuedBytes   int
	maxSessionExpiry time.Duration
	persistentExpiry time.Duration
	connectTimeout   time.Duration

	sendWindow    int
	queueQoS0     bool
	retryInterval time.Duration
	retryMax      time.Duration
	sharePolicy   string

	maximumQoS        int
	retainAvailable   bool
	wildcardSubs      bool
	subscriptionIDs   bool
	sharedSubs        bool
	topicAliasMaximum int
	serverKeepAlive   time.Duration

	adminListen string

	drainReference string
	drainMoved     bool
	drainRate      float64
	sysInterval    time.Duration

	passwordFile   string
	aclFile        string
	scramFile      string
	allowAnonymous bool
	anonymousSet   bool // allowAnonymous was given explicitly
}

func (o *serveOptions) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.listen, "listen", nil, "TCP address to listen on, repeatable (default 127.0.0.1:1883 when no listener is configured)")
	fs.StringArrayVar(&o.tlsListen, "tls-listen", nil, "TCP address for MQTT over TLS (needs --cert and --key), repeatable")
	fs.StringArrayVar(&o.wsListen, "ws-listen", nil, "TCP address for MQTT over WebSocket (ws://ADDR/mqtt), repeatable")
	fs.StringArrayVar(&o.wssListen, "wss-listen", nil, "TCP address for MQTT over secure WebSocket (wss://ADDR/mqtt; needs --cert and --key), repeatable")
	fs.StringArrayVar(&o.proxyProtocol, "proxy-protocol", nil, "listen address (of any --*listen) behind a load balancer: its connections start with a PROXY protocol v1 or v2 header naming the client, repeatable")
	fs.StringArrayVar(&o.listenerSettingsRaw, "listener-settings", nil, `settings of one listener that differ from the global ones: "ADDRESS;key=value;..." with allow_anonymous, password_file, acl_file, scram_file, durability (sync or memory), repeatable`)
	fs.DurationVar(&o.proxyHeaderTimeout, "proxy-header-timeout", broker.DefaultProxyHeaderTimeout, "time a --proxy-protocol connection has to send its header")
	fs.Float64Var(&o.connectionRate, "connection-rate", 0, "new connections per second per client address (IPv6: per /64); more are closed at once (0: no limit)")
	fs.IntVar(&o.connectionBurst, "connection-burst", 0, "burst allowed above --connection-rate (default: the rate, at least 1)")
	fs.IntVar(&o.banThreshold, "ban-threshold", 0, "violations (failed logins, broken limits) within --ban-window that ban an address or client identifier (0: no bans)")
	fs.DurationVar(&o.banWindow, "ban-window", broker.DefaultBanWindow, "window in which --ban-threshold violations ban")
	fs.DurationVar(&o.banDuration, "ban-duration", 0, "length of a ban (0: no bans)")
	fs.IntVar(&o.maxConnsPerListener, "max-connections-per-listener", 0, "open connections of each listener; more are closed at once (0: no bound)")
	fs.IntVar(&o.maxSubscriptions, "max-subscriptions", 0, "subscriptions per client; more get SUBACK 0x97/0x80 (0: no bound)")
	fs.IntVar(&o.maxTopicLength, "max-topic-length", 0, "longest topic name or filter, in bytes (0: no bound)")
	fs.IntVar(&o.maxTopicLevels, "max-topic-levels", 0, "most levels of a topic name or filter (0: no bound)")
	fs.DurationVar(&o.slowConsumerTimeout, "slow-consumer-timeout", 0, "disconnect (DISCONNECT 0x97) a client whose message queue overflows for this long (0: never)")
	fs.StringVar(&o.certFile, "cert", "", "PEM certificate (chain) of the TLS listeners; reloaded on SIGHUP")
	fs.StringVar(&o.keyFile, "key", "", "PEM private key of --cert; reloaded on SIGHUP")
	fs.StringVar(&o.clientCA, "client-ca", "", "PEM CA certificates: TLS clients must present a certificate they sign (mutual TLS); reloaded on SIGHUP")
	fs.BoolVar(&o.certAsUser, "use-identity-as-username", false, "with --client-ca: the client certificate's Common Name is the user name, and no password is asked")
	fs.StringVar(&o.identityFrom, "identity-from", string(broker.IdentityCommonName), "with --use-identity-as-username: the certificate field that is the user name: cn, san-dns, san-email or san-uri (the first of its kind)")
	fs.StringVar(&o.configFile, "config", "", "YAML configuration file (see docs/configuration.md); flags override it")
	fs.IntVar(&o.maxConnections, "max-connections", 0, "most open network connections; more are closed at once (0: no bound)")
	fs.IntVar(&o.maxPacketSize, "max-packet-size", broker.DefaultMaxPacketSize, "largest packet accepted, in bytes")
	fs.IntVar(&o.maxClientIDLen, "max-client-id-length", 0, "longest client identifier, in bytes (CONNACK 0x85/0x02 beyond; 0: no bound)")
	fs.Float64Var(&o.publishRate, "publish-rate", 0, "PUBLISH packets per second per client; faster clients are disconnected (0: no limit)")
	fs.IntVar(&o.publishBurst, "publish-burst", 0, "burst allowed above --publish-rate (default: the rate, at least 1)")
	fs.IntVar(&o.receiveMaximum, "receive-maximum", broker.DefaultReceiveMaximum, "unacknowledged QoS 1/2 PUBLISH a client may send (announced to MQTT 5 clients)")
	fs.IntVar(&o.maxQueued, "max-queued", broker.DefaultMaxQueued, "messages queued per session; more are dropped and counted")
	fs.IntVar(&o.maxQueuedBytes, "max-queued-bytes", broker.DefaultMaxQueuedBytes, "payload bytes queued per session")
	fs.DurationVar(&o.maxSessionExpiry, "max-session-expiry", 0, "cap of the session expiry interval, also of 3.1/3.1.1 persistent sessions (0: no cap)")
	fs.DurationVar(&o.persistentExpiry, "persistent-client-expiration", 0, "lifetime of a disconnected 3.1/3.1.1 persistent session, whole seconds (0: never)")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", broker.DefaultConnectTimeout, "time a new connection has to send CONNECT")
	fs.IntVar(&o.sendWindow, "send-window", broker.DefaultSendWindow, "QoS 1/2 messages in flight towards a client (MQTT 5: at most its Receive Maximum)")
	fs.BoolVar(&o.queueQoS0, "queue-qos0", false, "queue QoS 0 messages for disconnected persistent sessions")
	fs.DurationVar(&o.retryInterval, "retry-interval", 0, "resend unacknowledged QoS 1/2 messages to connected 3.1/3.1.1 clients after this time, doubling (0: on reconnect only)")
	fs.DurationVar(&o.retryMax, "retry-max", 0, "cap of the doubling --retry-interval (0: no cap)")
	fs.StringVar(&o.sharePolicy, "share-policy", broker.ShareRoundRobin, "member of a shared subscription group that gets a message: round-robin, random, hash-topic or hash-client")
	fs.IntVar(&o.maximumQoS, "maximum-qos", 2, "highest QoS accepted and granted: 0, 1 or 2")
	fs.BoolVar(&o.retainAvailable, "retain-available", true, "accept retained messages (false: PUBLISH with RETAIN is refused)")
	fs.BoolVar(&o.wildcardSubs, "wildcard-subscriptions", true, "accept filters with + and #")
	fs.BoolVar(&o.subscriptionIDs, "subscription-identifiers", true, "accept MQTT 5 subscription identifiers")
	fs.BoolVar(&o.sharedSubs, "shared-subscriptions", true, "accept $share/GROUP/ filters")
	fs.IntVar(&o.topicAliasMaximum, "topic-alias-maximum", 10, "topic aliases an MQTT 5 client may define towards the server (0: none)")
	fs.DurationVar(&o.serverKeepAlive, "server-keep-alive", 0, "keep alive imposed on MQTT 5 clients, whole seconds (0: the client's own)")
	fs.StringVar(&o.adminListen, "admin-listen", "", "HTTP address of /metrics (Prometheus), /healthz and /readyz, e.g. 127.0.0.1:9090 (default: off)")
	fs.StringVar(&o.drainReference, "drain-server-reference", "", "server MQTT 5 clients are sent to on SIGUSR1 or POST /drain (DISCONNECT 0x9C/0x9D)")
	fs.BoolVar(&o.drainMoved, "drain-server-moved", false, "drain with 0x9D Server moved (permanent) instead of 0x9C Use another server")
	fs.Float64Var(&o.drainRate, "drain-rate", 0, "clients disconnected per second by a drain (0: all at once)")
	fs.DurationVar(&o.sysInterval, "sys-interval", broker.DefaultSysInterval, "period of the $SYS/broker/... topics; 0 turns them off")
	fs.StringVar(&o.passwordFile, "password-file", "", "Mosquitto password file (see tern passwd); reloaded on SIGHUP")
	fs.StringVar(&o.aclFile, "acl-file", "", "Mosquitto ACL file; reloaded on SIGHUP")
	fs.StringVar(&o.scramFile, "scram-file", "", "SCRAM-SHA-256 credentials (see tern scram) for MQTT 5 enhanced authentication; reloaded on SIGHUP")
	fs.BoolVar(&o.allowAnonymous, "allow-anonymous", false, "let clients without a user name in (default: true when neither --password-file nor --acl-file is given)")
}

// validate checks the values no flag type checks.
func (o *serveOptions) validate() error {
	for _, c := range []struct {
		name string
		v    int
	}{{"max-connections", o.maxConnections}, {"max-packet-size", o.maxPacketSize}, {"max-client-id-length", o.maxClientIDLen},
		{"publish-burst", o.publishBurst}, {"connection-burst", o.connectionBurst}, {"ban-threshold", o.banThreshold},
		{"max-subscriptions", o.maxSubscriptions}, {"max-connections-per-listener", o.maxConnsPerListener}, {"max-topic-length", o.maxTopicLength}, {"max-topic-levels", o.maxTopicLevels}, {"receive-maximum", o.receiveMaximum}, {"max-queued", o.maxQueued}, {"max-queued-bytes", o.maxQueuedBytes}} {
		if c.v < 0 {
			return fmt.Errorf("--%s %d: want 0 or more", c.name, c.v)
		}
	}
	if o.maximumQoS < 0 || o.maximumQoS > 2 {
		return fmt.Errorf("--maximum-qos %d: want 0, 1 or 2", o.maximumQoS)
	}
	if o.topicAliasMaximum < 0 || o.topicAliasMaximum > 65535 {
		return fmt.Errorf("--topic-alias-maximum %d: want 0 to 65535", o.topicAliasMaximum)
	}
	switch o.sharePolicy {
	case "", broker.ShareRoundRobin, broker.ShareRandom, broker.ShareHashTopic, broker.ShareHashClient:
	default:
		return fmt.Errorf("--share-policy %q: want round-robin, random, hash-topic or hash-client", o.sharePolicy)
	}
	if o.receiveMaximum > 65535 {
		return fmt.Errorf("--receive-maximum %d: want at most 65535", o.receiveMaximum)
	}
	if o.publishRate < 0 || o.drainRate < 0 || o.sysInterval < 0 || o.maxSessionExpiry < 0 || o.persistentExpiry < 0 {
		return errors.New("--publish-rate, --drain-rate, --sys-interval, --max-session-expiry and --persistent-client-expiration cannot be negative")
	}
	if o.connectionRate < 0 || o.banWindow < 0 || o.banDuration < 0 || o.proxyHeaderTimeout < 0 || o.slowConsumerTimeout < 0 {
		return errors.New("--connection-rate, --ban-window, --ban-duration, --proxy-header-timeout and --slow-consumer-timeout cannot be negative")
	}
	return nil
}

// afterFlags records which options the command line set.
func (o *serveOptions) afterFlags(fs *pflag.FlagSet) {
	o.anonymousSet = o.anonymousSet || fs.Changed("allow-anonymous")
}

// anonymous reports whether anonymous clients are let in: as given, else
// only when no security option is configured at all.
func (o *serveOptions) anonymous() bool {
	if o.anonymousSet {
		return o.allowAnonymous
	}
	return o.passwordFile == "" && o.aclFile == "" && o.scramFile == ""
}

// security loads the password and ACL files. reload reads them again.
func (o *serveOptions) security() (auth.Authenticator, auth.Authorizer, func() error, error) {
	authn, authz, reload, err := auth.Files{PasswordFile: o.passwordFile, ACLFile: o.aclFile, AllowAnonymous: o.anonymous()}.Load()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("loading security files: %w", err)
	}
	return authn, authz, reload, nil
}

// authSummary describes the security configuration for the start-up log.
func (o *serveOptions) authSummary() string {
	scram := ""
	if o.scramFile != "" {
		scram = "SCRAM-SHA-256 file " + o.scramFile + ", "
	}
	switch {
	case o.passwordFile == "" && o.aclFile == "" && o.anonymous() && scram == "":
		return "anonymous access allowed, no password or ACL file"
	case o.passwordFile == "" && !o.anonymous() && scram == "":
		return "every client refused: no password file and anonymous access off"
	}
	s := scram + "password file " + o.passwordFile
	if o.passwordFile == "" {
		s = scram + "no password file"
	}
	if o.aclFile != "" {
		s += ", ACL file " + o.aclFile
	}
	if o.anonymous() {
		s += ", anonymous access allowed"
	} else {
		s += ", anonymous access refused"
	}
	return s
}

// brokerConfig is the broker configuration the options give.
func (o *serveOptions) brokerConfig(log *slog.Logger) (broker.Config, func() error, error) {
	authn, authz, reload, err := o.security()
	if err != nil {
		return broker.Config{}, nil, err
	}
	var enhanced []broker.EnhancedAuth
	if o.scramFile != "" {
		sf, err := loadSCRAMFile(o.scramFile)
		if err != nil {
			return broker.Config{}, nil, err
		}
		enhanced = []broker.EnhancedAuth{sf.method()}
		files := reload
		reload = func() error { return errors.Join(files(), sf.Reload()) }
	}
	sys := o.sysInterval // 0: off
	maxQoS := 0          // broker.Config: 0 means 2
	switch {
	case o.maximumQoS == 1:
		maxQoS = 1
	case o.maximumQoS == 0:
		maxQoS = -1
	}
	aliases := o.topicAliasMaximum
	if aliases == 0 {
		aliases = -1 // broker.Config: negative means none
	}
	cfg := broker.Config{Logger: log, Authenticator: authn, Authorizer: authz, EnhancedAuth: enhanced, SysInterval: sys, Version: version,
		MaxPacketSize: o.maxPacketSize, ReceiveMaximum: o.receiveMaximum,
		MaxQueued: o.maxQueued, MaxQueuedBytes: o.maxQueuedBytes, MaxSessionExpiry: o.maxSessionExpiry,
		PersistentClientExpiration: o.persistentExpiry,
		ConnectTimeout:             o.connectTimeout, SendWindow: o.sendWindow, QueueQoS0: o.queueQoS0,
		RetryInterval: o.retryInterval, RetryMax: o.retryMax, SharePolicy: o.sharePolicy,
		MaximumQoS: maxQoS, RetainUnavailable: !o.retainAvailable, WildcardSubscriptionsUnavailable: !o.wildcardSubs,
		SubscriptionIDsUnavailable: !o.subscriptionIDs, SharedSubscriptionsUnavailable: !o.sharedSubs,
		TopicAliasMaximum: aliases, ServerKeepAlive: o.serverKeepAlive,
		SlowConsumerTimeout: o.slowConsumerTimeout,
	}
	cfg.SetLimits(o.limits())
	return cfg, reload, nil
}

// limits are the limits of the options, those SIGHUP reloads.
func (o *serveOptions) limits() broker.Limits {
	return broker.Limits{
		MaxConnections: o.maxConnections, MaxConnectionsPerListener: o.maxConnsPerListener, MaxClientIDLength: o.maxClientIDLen,
		PublishRate: o.publishRate, PublishBurst: o.publishBurst, ConnectionRate: o.connectionRate, ConnectionBurst: o.connectionBurst,
		BanThreshold: o.banThreshold, BanWindow: o.banWindow, BanDuration: o.banDuration,
		MaxSubscriptions: o.maxSubscriptions, MaxTopicLength: o.maxTopicLength, MaxTopicLevels: o.maxTopicLevels,
	}
}

// isLoopback reports whether a listen address is on the loopback interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// onSIGHUP calls reload on each SIGHUP until the returned function is
// called; a failed reload is logged (the previous contents stay).
func onSIGHUP(log *slog.Logger, reloads ...func() error) (stop func()) {
	return onSignal(syscall.SIGHUP, func() {
		var errs []error
		for _, r := range reloads {
			if r != nil {
				errs = append(errs, r())
			}
		}
		if err := errors.Join(errs...); err != nil {
			log.Error("reload on SIGHUP failed: the previous configuration stays", "err", err)
		} else {
			log.Info("reloaded on SIGHUP")
		}
	})
}

// onSignal calls handle for each sig received, one at a time, until stop
// is called.
func onSignal(sig os.Signal, handle func()) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-ch:
				handle()
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		<-finished
	}
}

// openListeners opens every configured listener (127.0.0.1:1883 when none
// is). reload reads the TLS files again.
func (o *serveOptions) openListeners(log *slog.Logger) (lns []net.Listener, reload func() error, err error) {
	defer func() {
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			lns = nil
		}
	}()
	tcp := o.listen
	if len(o.listen)+len(o.tlsListen)+len(o.wsListen)+len(o.wssListen) == 0 {
		tcp = []string{"127.0.0.1:1883"}
	}
	var certs *broker.Certificates
	if len(o.tlsListen)+len(o.wssListen) > 0 || o.certFile != "" || o.keyFile != "" || o.clientCA != "" {
		if o.certFile == "" || o.keyFile == "" {
			return nil, nil, errors.New("TLS listeners need both --cert and --key (tls.cert and tls.key)")
		}
		if certs, err = broker.LoadCertificates(o.certFile, o.keyFile, o.clientCA); err != nil {
			return nil, nil, err
		}
		reload = certs.Reload
		o.certs = certs
	}
	if o.certAsUser && o.clientCA == "" {
		return nil, nil, errors.New("--use-identity-as-username needs --client-ca")
	}
	proxied, err := o.proxied(tcp)
	if err != nil {
		return nil, nil, err
	}
	listen := func(kind, addr string) (net.Listener, error) {
		ln, err := mqttListenConfig.Listen(context.Background(), "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s listener %s: %w", kind, addr, err)
		}
		if proxied[addr] {
			ln = broker.ProxyProtocolListener(ln, o.proxyHeaderTimeout, log.With("listener", addr))
		}
		return ln, nil
	}
	o.lnAddrs = o.lnAddrs[:0]
	for _, a := range tcp {
		ln, err := listen("TCP", a)
		if err != nil {
			return lns, nil, err
		}
		lns = append(lns, ln)
		o.lnAddrs = append(o.lnAddrs, a)
	}
	for _, a := range o.tlsListen {
		ln, err := listen("TLS", a)
		if err != nil {
			return lns, nil, err
		}
		ln = tls.NewListener(ln, certs.TLSConfig())
		if o.certAsUser {
			if ln, err = broker.IdentityListenerFrom(ln, broker.Identity(o.identityFrom)); err != nil {
				return lns, nil, err
			}
		}
		lns = append(lns, ln)
		o.lnAddrs = append(o.lnAddrs, a)
	}
	for _, a := range o.wsListen {
		ln, err := listen("WebSocket", a)
		if err != nil {
			return lns, nil, err
		}
		lns = append(lns, broker.WebSocketListener(ln, nil, log))
		o.lnAddrs = append(o.lnAddrs, a)
	}
	for _, a := range o.wssListen {
		ln, err := listen("secure WebSocket", a)
		if err != nil {
			return lns, nil, err
		}
		lns = append(lns, broker.WebSocketListener(ln, certs.TLSConfig("http/1.1"), log))
		o.lnAddrs = append(o.lnAddrs, a)
	}
	return lns, reload, nil
}

// proxied returns the set of listen addresses that expect a PROXY
// protocol header; each must be one of the listeners (tcp: the MQTT over
// TCP ones).
func (o *serveOptions) proxied(tcp []string) (map[string]bool, error) {
	if len(o.proxyProtocol) == 0 {
		return nil, nil
	}
	all := map[string]bool{}
	for _, l := range [][]string{tcp, o.tlsListen, o.wsListen, o.wssListen} {
		for _, a := range l {
			all[a] = true
		}
	}
	set := map[string]bool{}
	for _, a := range o.proxyProtocol {
		if !all[a] {
			return nil, fmt.Errorf("--proxy-protocol %s (listeners.proxy_protocol): not the address of a listener", a)
		}
		set[a] = true
	}
	return set, nil
}

// describeListeners names each listener with its kind, for the log.
func (o *serveOptions) describeListeners(lns []net.Listener) string {
	kinds := []string{}
	n := len(lns) - len(o.tlsListen) - len(o.wsListen) - len(o.wssListen)
	for range n {
		kinds = append(kinds, "mqtt://")
	}
	for range o.tlsListen {
		kinds = append(kinds, "mqtts://")
	}
	for range o.wsListen {
		kinds = append(kinds, "ws://")
	}
	for range o.wssListen {
		kinds = append(kinds, "wss://")
	}
	s := make([]string, len(lns))
	for i, ln := range lns {
		s[i] = kinds[i] + ln.Addr().String()
		if kinds[i] == "ws://" || kinds[i] == "wss://" {
			s[i] += broker.WebSocketPath
		}
	}
	return strings.Join(s, ",")
}

// startAdmin serves the administration endpoints on --admin-listen, if
// set, until stop is called.
func (o *serveOptions) startAdmin(srv *broker.Server, dr *drainer, log *slog.Logger) (stop func(), addr net.Addr, err error) {
	if o.adminListen == "" {
		return func() {}, nil, nil
	}
	ln, err := net.Listen("tcp", o.adminListen)
	if err != nil {
		return nil, nil, fmt.Errorf("admin listener %s: %w", o.adminListen, err)
	}
	hs := &http.Server{Handler: dr.adminHandler(srv), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener failed", "err", err)
		}
	}()
	log.Info("admin endpoints", "url", "http://"+ln.Addr().String(), "paths", "/metrics /healthz /readyz, POST /drain")
	if !isLoopback(ln.Addr().String()) {
		log.Warn("the admin endpoints are open beyond this machine, without authentication", "listen", ln.Addr().String())
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		<-done
	}, ln.Addr(), nil
}

// mqttListenConfig turns on TCP keep-alive for accepted connections with the
// kernel's timings: one system call per accept instead of net.Listen's four
// (15-second probes). MQTT's own keep alive detects dead peers; TCP's is the
// backstop for clients that turn MQTT's off (Keep Alive 0).
var mqttListenConfig = net.ListenConfig{
	KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1},
}
