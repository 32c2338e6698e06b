package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tern-mq/tern/internal/loadgen"
	"github.com/tern-mq/tern/packet"
)

func init() { subcommands = append(subcommands, newBenchCmd) }

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test an MQTT broker",
		Long: `Load-test an MQTT broker: connections, publishers, subscribers, or a whole
scenario in one process (bench run) so that latency is measured on one clock.

Like the mosquitto tools, -h is the host and -p the port (--help for help).
Payloads carry the publisher, a sequence number and the send time, so
losses, duplicates and end-to-end latency are counted exactly. At a fixed
--rate latency is measured from the intended send time (no coordinated
omission).`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newBenchConnCmd(), newBenchPubCmd(), newBenchSubCmd(), newBenchRunCmd(), newBenchRelayCmd())
	return cmd
}

// benchFlags are the flags every bench subcommand takes.
type benchFlags struct {
	host      string
	port      int
	url       string
	version   int
	user      string
	password  string
	keepAlive time.Duration
	timeout   time.Duration
	prefix    string
	json      bool
	quiet     bool
	brokerPID int
}

func (f *benchFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	// -h is the host, as in the mosquitto tools: help is --help only.
	fs.Bool("help", false, "help for "+cmd.Name())
	fs.StringVarP(&f.host, "host", "h", "127.0.0.1", "broker host")
	fs.IntVarP(&f.port, "port", "p", 1883, "broker port")
	fs.StringVar(&f.url, "url", "", "broker URL, mqtt://host:port or tcp://host:port (instead of -h and -p)")
	fs.IntVarP(&f.version, "protocol", "V", 5, "MQTT protocol level: 3 (3.1), 4 (3.1.1) or 5 (5.0)")
	fs.StringVarP(&f.user, "username", "u", "", "user name")
	fs.StringVarP(&f.password, "password", "P", "", "password")
	fs.DurationVarP(&f.keepAlive, "keepalive", "k", 60*time.Second, "keep alive (0: none)")
	fs.DurationVar(&f.timeout, "connect-timeout", 10*time.Second, "time allowed for TCP connect and CONNACK")
	fs.StringVar(&f.prefix, "client-prefix", "tern-bench", "client identifier prefix")
	fs.BoolVar(&f.json, "json", false, "print the summary as JSON")
	fs.BoolVarP(&f.quiet, "quiet", "Q", false, "no progress line on stderr")
	fs.IntVar(&f.brokerPID, "broker-pid", 0, "process id of the broker on this machine: measure its CPU and memory (Linux)")
	cmd.Args = cobra.NoArgs
	cmd.SilenceUsage = true
}

func (f *benchFlags) options(cmd *cobra.Command) (loadgen.ConnOptions, error) {
	o := loadgen.ConnOptions{Username: f.user, Password: f.password, KeepAlive: f.keepAlive,
		ConnectTimeout: f.timeout, ClientPrefix: f.prefix}
	switch f.version {
	case 3, 4, 5:
		o.Version = packet.Version(f.version)
	default:
		return o, fmt.Errorf("--protocol %d: want 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0)", f.version)
	}
	if f.keepAlive < 0 || f.keepAlive > 65535*time.Second {
		return o, fmt.Errorf("--keepalive %v: want 0 to 65535s", f.keepAlive)
	}
	if f.timeout <= 0 {
		return o, errors.New("--connect-timeout must be positive")
	}
	if f.brokerPID < 0 {
		return o, errors.New("--broker-pid must be a process id")
	}
	if f.url != "" {
		if cmd.Flags().Changed("host") || cmd.Flags().Changed("port") {
			return o, errors.New("give either --url or -h/-p, not both")
		}
		u, err := url.Parse(f.url)
		if err != nil {
			return o, fmt.Errorf("--url: %w", err)
		}
		if u.Scheme != "mqtt" && u.Scheme != "tcp" {
			return o, fmt.Errorf("--url %q: only mqtt:// and tcp:// are supported", f.url)
		}
		if u.Hostname() == "" {
			return o, fmt.Errorf("--url %q: no host", f.url)
		}
		port := u.Port()
		if port == "" {
			port = "1883"
		}
		o.Addr = net.JoinHostPort(u.Hostname(), port)
		if u.User != nil && f.user == "" {
			o.Username = u.User.Username()
			o.Password, _ = u.User.Password()
		}
		return o, nil
	}
	if f.port <= 0 || f.port > 65535 {
		return o, fmt.Errorf("-p %d: want a port from 1 to 65535", f.port)
	}
	if f.host == "" {
		return o, errors.New("-h: empty host")
	}
	o.Addr = net.JoinHostPort(f.host, strconv.Itoa(f.port))
	return o, nil
}

func (f *benchFlags) progress(cmd *cobra.Command) io.Writer {
	if f.quiet {
		return nil
	}
	return cmd.ErrOrStderr()
}

// output prints res as JSON or as text.
func (f *benchFlags) output(cmd *cobra.Command, res interface{ WriteText(io.Writer) }) error {
	w := cmd.OutOrStdout()
	if f.json {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(res)
	}
	res.WriteText(w)
	return nil
}

func interruptible(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

func checkQoS(q int) (packet.QoS, error) {
	if q < 0 || q > 2 {
		return 0, fmt.Errorf("-q %d: QoS must be 0, 1 or 2", q)
	}
	return packet.QoS(q), nil
}

// scenarioFlags are the flags of pub, sub and run.
type scenarioFlags struct {
	benchFlags
	pubs, subs int
	topic      string
	filter     string
	qos        int
	rate       float64
	size       int
	duration   time.Duration
	count      int
	inflight   int
	drain      time.Duration
	clean      bool
	expiry     time.Duration
	metrics    string
}

func (f *scenarioFlags) config(cmd *cobra.Command) (loadgen.Config, error) {
	o, err := f.options(cmd)
	if err != nil {
		return loadgen.Config{}, err
	}
	q, err := checkQoS(f.qos)
	if err != nil {
		return loadgen.Config{}, err
	}
	if f.duration < 0 {
		return loadgen.Config{}, errors.New("--duration must not be negative")
	}
	if f.inflight < 1 || f.inflight > 65535 {
		return loadgen.Config{}, fmt.Errorf("--inflight %d: want 1 to 65535", f.inflight)
	}
	return loadgen.Config{Conn: o, Publishers: f.pubs, Subscribers: f.subs, Topic: f.topic, Filter: f.filter,
		QoS: q, Rate: f.rate, Size: f.size, Duration: f.duration, Count: f.count, Inflight: f.inflight,
		Drain: f.drain, Progress: f.progress(cmd), BrokerPID: f.brokerPID,
		SubKeepSession: !f.clean, SubSessionExpiry: f.expiry, MetricsURL: f.metrics}, nil
}

// registerSession registers the flags of the subscribers' sessions.
func (f *scenarioFlags) registerSession(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.BoolVar(&f.clean, "clean", true, "subscribers connect with Clean Start (clean session); --clean=false keeps their sessions, named CLIENT-PREFIX-sub-INDEX in every run")
	fs.DurationVar(&f.expiry, "session-expiry", 0, "Session Expiry Interval of the subscribers (MQTT 5): a persistent session, named CLIENT-PREFIX-sub-INDEX in every run")
}

func (f *scenarioFlags) registerPub(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVarP(&f.topic, "topic", "t", "bench/%i", "topic to publish to; %i is the publisher's index")
	fs.Float64VarP(&f.rate, "rate", "r", 0, "messages per second per publisher, evenly paced (0: flat-out)")
	fs.IntVarP(&f.size, "size", "s", 64, fmt.Sprintf("payload size in bytes (at least %d)", loadgen.MinPayload))
	fs.IntVarP(&f.count, "limit", "L", 0, "messages per publisher (0: until --duration ends)")
	fs.IntVarP(&f.inflight, "inflight", "F", 100, "QoS 1/2 messages in flight per publisher (capped by the broker's Receive Maximum)")
}

func (f *scenarioFlags) registerCommon(cmd *cobra.Command) {
	f.register(cmd)
	fs := cmd.Flags()
	fs.IntVarP(&f.qos, "qos", "q", 0, "QoS 0, 1 or 2")
	fs.DurationVarP(&f.duration, "duration", "d", 10*time.Second, "publishing (or receiving) time")
	fs.StringVar(&f.metrics, "broker-metrics", "", "Prometheus page of the broker (tern serve --admin-listen ADDR: http://ADDR/metrics): report its store's fsyncs/s and commits per fsync over the run")
}

func newBenchPubCmd() *cobra.Command {
	f := &scenarioFlags{}
	cmd := &cobra.Command{
		Use:   "pub",
		Short: "Run publishers",
		Example: `  tern bench pub -c 10 -r 1000 -q 1 -t bench/%i -d 30s
  tern bench pub -c 10 -s 64 -L 100000        # flat-out, 100,000 messages each`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd)
			if err != nil {
				return err
			}
			if f.pubs < 1 {
				return fmt.Errorf("-c %d: at least one publisher", f.pubs)
			}
			return runScenario(cmd, &f.benchFlags, cfg)
		},
	}
	f.registerCommon(cmd)
	f.registerPub(cmd)
	cmd.Flags().IntVarP(&f.pubs, "count", "c", 1, "publishers")
	return cmd
}

func newBenchSubCmd() *cobra.Command {
	f := &scenarioFlags{}
	cmd := &cobra.Command{
		Use:   "sub",
		Short: "Run subscribers",
		Long: `Run subscribers for --duration. Losses are estimated from the sequence
numbers of tern bench publishers (the last message of each is assumed
received); latency uses the wall clocks of both sides.`,
		Example: `  tern bench sub -c 100 -t 'bench/#' -q 1 -d 60s`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd)
			if err != nil {
				return err
			}
			if f.subs < 1 {
				return fmt.Errorf("-c %d: at least one subscriber", f.subs)
			}
			if f.duration <= 0 {
				return errors.New("--duration must be positive")
			}
			return runScenario(cmd, &f.benchFlags, cfg)
		},
	}
	f.registerCommon(cmd)
	cmd.Flags().IntVarP(&f.subs, "count", "c", 1, "subscribers")
	cmd.Flags().StringVarP(&f.filter, "topic", "t", "bench/#", "topic filter; %i is the subscriber's index")
	f.registerSession(cmd)
	cmd.Flags().IntVarP(&f.inflight, "inflight", "F", 100, "Receive Maximum announced (MQTT 5)")
	return cmd
}

func newBenchRunCmd() *cobra.Command {
	f := &scenarioFlags{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run publishers and subscribers in one process (one clock for latency)",
		Example: `  tern bench run --pub 10 --sub 1 -d 10s                     # fan-in, QoS 0, flat-out
  tern bench run --pub 1 --sub 100 -t bench/0 -d 10s         # fan-out
  tern bench run --pub 50 --sub 50 -f bench/%i -r 100 -q 1   # pairs
  tern bench run --pub 10 --sub 1 -r 1000 -q 1 --json        # 10,000 msg/s, latency
  tern bench run --pub 10 --sub 10 -q 1 --session-expiry 1h \
      --broker-metrics http://127.0.0.1:9090/metrics         # persistent subscribers, fsyncs/s`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd)
			if err != nil {
				return err
			}
			if f.pubs < 1 || f.subs < 1 {
				return fmt.Errorf("--pub %d --sub %d: run needs at least one publisher and one subscriber", f.pubs, f.subs)
			}
			return runScenario(cmd, &f.benchFlags, cfg)
		},
	}
	f.registerCommon(cmd)
	f.registerPub(cmd)
	fs := cmd.Flags()
	fs.IntVar(&f.pubs, "pub", 10, "publishers")
	fs.IntVar(&f.subs, "sub", 1, "subscribers")
	fs.StringVarP(&f.filter, "filter", "f", "bench/#", "subscribers' topic filter; %i is the subscriber's index")
	fs.DurationVar(&f.drain, "drain", 5*time.Second, "after publishing, the longest wait for acknowledgements and deliveries")
	f.registerSession(cmd)
	return cmd
}

func runScenario(cmd *cobra.Command, f *benchFlags, cfg loadgen.Config) error {
	ctx, stop := interruptible(cmd)
	defer stop()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("interrupted")
		}
		return err
	}
	return f.output(cmd, res)
}

func newBenchConnCmd() *cobra.Command {
	var (
		f           benchFlags
		count       int
		rate        float64
		concurrency int
		hold        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "conn",
		Short: "Open many connections at a rate and hold them",
		Example: `  tern bench conn -c 10000 -R 1000 --hold 30s
  tern bench conn -c 10000 --broker-pid $(pidof mosquitto)   # memory per connection`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			if count < 1 {
				return fmt.Errorf("-c %d: at least one connection", count)
			}
			if rate < 0 {
				return fmt.Errorf("-R %g: the rate must not be negative (0: as fast as possible)", rate)
			}
			if hold < 0 {
				return errors.New("--hold must not be negative")
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			res, err := loadgen.Connect(ctx, loadgen.ConnConfig{Conn: o, Count: count, Rate: rate,
				Concurrency: concurrency, Hold: hold, Progress: f.progress(cmd), BrokerPID: f.brokerPID})
			if err != nil && res == nil || err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return f.output(cmd, res)
		},
	}
	f.register(cmd)
	fs := cmd.Flags()
	fs.IntVarP(&count, "count", "c", 1000, "connections")
	fs.Float64VarP(&rate, "rate", "R", 0, "connections opened per second (0: as fast as possible)")
	fs.IntVar(&concurrency, "concurrency", 100, "handshakes in progress at once")
	fs.DurationVar(&hold, "hold", 5*time.Second, "how long to hold the connections open")
	return cmd
}

func newBenchRelayCmd() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Run a byte-copying relay: the machine's ceiling for bench run",
		Long: `Run a relay that answers CONNECT, SUBSCRIBE and the QoS acknowledgements and
copies every PUBLISH frame unchanged to every subscribed connection, without
topic matching, sessions or queues. Benchmarked like a broker, it shows how
much of the machine the load generator and the network stack leave.
SIGINT or SIGTERM stops it.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen %s: %w", listen, err)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "relay listening on", ln.Addr())
			ctx, stop := interruptible(cmd)
			defer stop()
			var r loadgen.Relay
			return r.Serve(ctx, ln)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:1884", "TCP address to listen on")
	return cmd
}
