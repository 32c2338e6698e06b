package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/pflag"

	"github.com/tern-mq/tern/broker"
)

// newLogger returns the logger of tern serve: format "text" (key=value)
// or "json", one object per line.
func newLogger(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// commandLine records the flags set in fs, with their values, so that the
// configuration can be read again as at start-up.
func commandLine(fs *pflag.FlagSet) map[string][]string {
	set := map[string][]string{}
	fs.Visit(func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			set[f.Name] = sv.GetSlice()
		} else {
			set[f.Name] = []string{f.Value.String()}
		}
	})
	return set
}

// limitsRereader returns a function that reads the limits again as
// start-up did: the command line cmdline, over the TERN_* environment,
// over the configuration file (read again).
func limitsRereader(cmdline map[string][]string) func() (broker.Limits, error) {
	return func() (broker.Limits, error) {
		fs := newServeCmd().Flags()
		for name, vals := range cmdline {
			for _, v := range vals {
				if err := fs.Set(name, v); err != nil {
					return broker.Limits{}, fmt.Errorf("--%s: %w", name, err)
				}
			}
		}
		if err := loadEnv(fs, os.LookupEnv); err != nil {
			return broker.Limits{}, err
		}
		if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
			if err := loadConfigFile(f.Value.String(), fs); err != nil {
				return broker.Limits{}, err
			}
		}
		var o serveOptions
		ofs := pflag.NewFlagSet("limits", pflag.ContinueOnError)
		o.register(ofs)
		for name, vals := range commandLine(fs) {
			if ofs.Lookup(name) == nil {
				continue // not an option of serveOptions
			}
			for _, v := range vals {
				if err := ofs.Set(name, v); err != nil {
					return broker.Limits{}, fmt.Errorf("--%s: %w", name, err)
				}
			}
		}
		if err := o.validate(); err != nil {
			return broker.Limits{}, err
		}
		return o.limits(), nil
	}
}

// limitsReload returns the SIGHUP reload of the limits of srv.
func (o *serveOptions) limitsReload(srv *broker.Server) func() error {
	if o.rereadLimits == nil {
		return nil
	}
	return func() error {
		l, err := o.rereadLimits()
		if err != nil {
			return fmt.Errorf("limits: %w", err)
		}
		return srv.SetLimits(l)
	}
}
