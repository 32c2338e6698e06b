package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/pebble"
)

// storageFlags are the persistence flags of tern serve.
type storageFlags struct {
	dataDir    string
	durability string
	interval   time.Duration
	salvage    bool
}

func (f *storageFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", "", "directory of the durable store (sessions, queued messages, retained messages); empty: memory only")
	fs.StringVar(&f.durability, "durability", "", `when a write is acknowledged: "sync" (fsynced, the default with --data-dir), `+
		`"interval" (fsynced every --sync-interval) or "memory" (nothing kept, the default without --data-dir)`)
	fs.DurationVar(&f.interval, "sync-interval", pebble.DefaultInterval, "fsync period of --durability interval")
	fs.BoolVar(&f.salvage, "salvage-log", false, "open a store whose write-ahead log is damaged before its end, keeping the records before the damage (a copy of the log goes to DATA-DIR/damaged)")
}

// open returns the store the flags select: nil for memory only (the broker
// then keeps sessions in memory and makes no persistence calls).
func (f *storageFlags) open(log *slog.Logger) (store.Store, error) {
	d := f.durability
	if d == "" {
		d = "memory"
		if f.dataDir != "" {
			d = "sync"
		}
	}
	var opts pebble.Options
	switch d {
	case "memory":
		if f.dataDir != "" {
			return nil, errors.New("--durability memory keeps nothing on disk: drop --data-dir or choose sync or interval")
		}
		log.Info("storage", "durability", "memory", "note", "sessions and retained messages are lost at exit")
		return nil, nil
	case "sync":
		opts.Durability = pebble.Sync
	case "interval":
		opts.Durability = pebble.Interval
		opts.Interval = f.interval
	default:
		return nil, fmt.Errorf("--durability %q: want sync, interval or memory", f.durability)
	}
	if f.dataDir == "" {
		return nil, fmt.Errorf("--durability %s needs --data-dir", d)
	}
	opts.Logger = log
	opts.SalvageLog = f.salvage
	st, err := pebble.Open(f.dataDir, opts)
	if err != nil {
		return nil, err
	}
	log.Info("storage", "durability", d, "data_dir", f.dataDir)
	return st, nil
}
