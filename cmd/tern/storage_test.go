package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tern-mq/tern/session"
)

func TestStorageFlags(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := filepath.Join(t.TempDir(), "data")
	for _, c := range []struct {
		f       storageFlags
		wantErr string
		durable bool
	}{
		{f: storageFlags{}},
		{f: storageFlags{durability: "memory"}},
		{f: storageFlags{durability: "memory", dataDir: dir}, wantErr: "keeps nothing on disk"},
		{f: storageFlags{durability: "sync"}, wantErr: "needs --data-dir"},
		{f: storageFlags{durability: "fast", dataDir: dir}, wantErr: `want sync, interval or memory`},
		{f: storageFlags{dataDir: dir}, durable: true},
		{f: storageFlags{dataDir: dir, durability: "interval"}, durable: true},
	} {
		st, err := c.f.open(log)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%+v: err %v, want %q", c.f, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", c.f, err)
		}
		if (st != nil) != c.durable {
			t.Fatalf("%+v: store %v, want durable %v", c.f, st, c.durable)
		}
		if st == nil {
			continue
		}
		ctx := context.Background()
		if err := st.SetRetained(ctx, &session.Message{ID: 1, Topic: "k", Payload: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
