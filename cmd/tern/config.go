package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/broker"
)

// serveOptions are the options of tern serve, from flags and the
// configuration file.
type serveOptions struct {
	listen []string

	passwordFile   string
	aclFile        string
	allowAnonymous bool
	anonymousSet   bool // allowAnonymous was given explicitly
}

func (o *serveOptions) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.listen, "listen", nil, "TCP address to listen on, repeatable (default 127.0.0.1:1883 when no listener is configured)")
	fs.StringVar(&o.passwordFile, "password-file", "", "Mosquitto password file (see tern passwd); reloaded on SIGHUP")
	fs.StringVar(&o.aclFile, "acl-file", "", "Mosquitto ACL file; reloaded on SIGHUP")
	fs.BoolVar(&o.allowAnonymous, "allow-anonymous", false, "let clients without a user name in (default: true when neither --password-file nor --acl-file is given)")
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
	return o.passwordFile == "" && o.aclFile == ""
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
	switch {
	case o.passwordFile == "" && o.aclFile == "" && o.anonymous():
		return "anonymous access allowed, no password or ACL file"
	case o.passwordFile == "" && !o.anonymous():
		return "every client refused: no password file and anonymous access off"
	}
	s := "password file " + o.passwordFile
	if o.passwordFile == "" {
		s = "no password file"
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
	return broker.Config{Logger: log, Authenticator: authn, Authorizer: authz}, reload, nil
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
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-ch:
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
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		<-finished
	}
}
