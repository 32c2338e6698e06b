package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/store"
)

func init() { subcommands = append(subcommands, newServeCmd) }

// certWatchInterval is the period at which the TLS files are checked for
// changes (reloaded when they change, as on SIGHUP).
const certWatchInterval = 2 * time.Second

// shutdownTimeout bounds the graceful shutdown on SIGINT or SIGTERM.
const shutdownTimeout = 10 * time.Second

func newServeCmd() *cobra.Command {
	var (
		opts      serveOptions
		logLevel  string
		logFormat string
		storage   storageFlags
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the MQTT broker",
		Long: `Run the MQTT 3.1, 3.1.1 and 5.0 broker.

With no listener configured it listens on 127.0.0.1:1883 only; use --listen
:1883 for every interface. Without --password-file and --acl-file anonymous
access is allowed; --scram-file lets MQTT 5 clients authenticate with
SCRAM-SHA-256 (see tern scram). --listener-settings (listeners.settings)
gives one listener its own anonymous access, password, ACL and SCRAM files
and durability. --config FILE reads a YAML file with every
option (docs/configuration.md); TERN_* environment variables (TERN_ and the
key, e.g. TERN_LIMITS_MAX_CONNECTIONS) override it, and flags both. SIGHUP reloads the
password, ACL and SCRAM files, the TLS certificate, key and client CA, and
the limits (a file that fails to load keeps its previous contents). SIGINT or SIGTERM stops it gracefully
(MQTT 5 clients get DISCONNECT "server shutting down"). SIGUSR1, or POST
/drain on the admin listener, drains it: the listeners close, the clients
are sent to --drain-server-reference (MQTT 5: DISCONNECT "use another
server"), then it stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.rereadLimits = limitsRereader(commandLine(cmd.Flags()))
			if err := loadEnv(cmd.Flags(), os.LookupEnv); err != nil {
				return err
			}
			if opts.configFile != "" {
				if err := loadConfigFile(opts.configFile, cmd.Flags()); err != nil {
					return err
				}
			}
			if err := opts.validate(); err != nil {
				return err
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			log, err := newLogger(cmd.ErrOrStderr(), logFormat, level)
			if err != nil {
				return err
			}
			st, err := storage.open(log)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts.afterFlags(cmd.Flags())
			opts.intervalStore = storage.durability == "interval"
			err = serveOpts(ctx, log, st, &opts, nil)
			if st != nil {
				err = errors.Join(err, st.Close())
			}
			return err
		},
	}
	opts.register(cmd.Flags())
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format: text (key=value) or json")
	storage.register(cmd.Flags())
	return cmd
}

// serve runs a broker on addrs until ctx ends, then shuts it down. ready,
// if not nil, is called with the listeners' addresses once they listen.
func serve(ctx context.Context, log *slog.Logger, addrs []string, ready func([]net.Addr)) error {
	return serveStore(ctx, log, nil, addrs, ready)
}

// serveStore is serve with a store (nil: memory only).
func serveStore(ctx context.Context, log *slog.Logger, st store.Store, addrs []string, ready func([]net.Addr)) error {
	return serveOpts(ctx, log, st, &serveOptions{listen: addrs}, ready)
}

// serveOpts runs a broker configured by o until ctx ends.
func serveOpts(ctx context.Context, log *slog.Logger, st store.Store, o *serveOptions, ready func([]net.Addr)) error {
	cfg, reload, err := o.brokerConfig(log)
	if err != nil {
		return err
	}
	cfg.Store = st
	srv, err := broker.New(cfg)
	if err != nil {
		return err
	}
	lns, reloadTLS, err := o.openListeners(log)
	if err != nil {
		srv.Shutdown(ctx)
		return err
	}
	los, anon, reloadListeners, err := o.perListener(lns, st, log)
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		srv.Shutdown(ctx)
		return err
	}
	log.Info("tern broker started", "version", version, "listen", o.describeListeners(lns), "auth", o.authSummary())
	if len(o.proxyProtocol) > 0 {
		log.Info("PROXY protocol expected", "listeners", strings.Join(o.proxyProtocol, ","), "header_timeout", o.proxyHeaderTimeout)
	}
	if o.banThreshold > 0 && o.banDuration > 0 {
		log.Info("bans on", "violations", o.banThreshold, "window", o.banWindow, "duration", o.banDuration)
	}
	for i, ln := range lns {
		if anon[i] && !isLoopback(ln.Addr().String()) {
			log.Warn("anonymous access allowed on a listener open beyond this machine", "listen", ln.Addr().String())
		}
	}
	if o.certs != nil {
		stopWatch := o.certs.Watch(certWatchInterval, log)
		defer stopWatch()
	}
	stopHUP := onSIGHUP(log, append([]func() error{reload, reloadTLS, o.limitsReload(srv)}, reloadListeners...)...)
	defer stopHUP()
	dr := o.newDrainer()
	stopUSR1 := dr.onSIGUSR1(log)
	defer stopUSR1()
	stopAdmin, adminAddr, err := o.startAdmin(srv, dr, log)
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		srv.Shutdown(ctx)
		return err
	}
	defer stopAdmin()
	if ready != nil {
		as := make([]net.Addr, len(lns))
		for i, ln := range lns {
			as[i] = ln.Addr()
		}
		if adminAddr != nil {
			as = append(as, adminAddr) // last
		}
		ready(as)
	}
	errc := make(chan error, len(lns))
	for i, ln := range lns {
		go func() { errc <- srv.ServeWith(ln, los[i]) }()
	}
	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", shutdownTimeout)
	case serveErr = <-errc:
		log.Error("listener failed", "err", serveErr)
	case d := <-dr.req:
		if err := srv.Drain(ctx, d); err != nil {
			log.Warn("drain interrupted", "err", err)
		}
		log.Info("shutting down after the drain", "timeout", shutdownTimeout)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	for range len(lns) - boolInt(serveErr != nil) {
		if e := <-errc; e != nil && !errors.Is(e, broker.ErrServerClosed) && serveErr == nil {
			serveErr = e
		}
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return serveErr
}

// perListener returns the broker options of each listener, whether each
// lets anonymous clients in, and the reloads of their files.
func (o *serveOptions) perListener(lns []net.Listener, st store.Store, log *slog.Logger) ([]broker.ListenerOptions, []bool, []func() error, error) {
	settings, err := o.listenerSettings(o.lnAddrs)
	if err != nil {
		return nil, nil, nil, err
	}
	los := make([]broker.ListenerOptions, len(lns))
	anon := make([]bool, len(lns))
	var reloads []func() error
	for i := range lns {
		lo, reload, a, err := o.listenerOptions(settings[o.lnAddrs[i]], st, log)
		if err != nil {
			return nil, nil, nil, err
		}
		los[i], anon[i] = lo, a
		if reload != nil {
			reloads = append(reloads, reload)
		}
	}
	return los, anon, reloads, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
