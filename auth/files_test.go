package auth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tern-mq/tern/packet"
)

func TestFilesLoad(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	acl := filepath.Join(dir, "acl")
	golden, err := os.ReadFile(filepath.Join("testdata", "mosquitto.passwd"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pw, golden, 0o600)
	os.WriteFile(acl, []byte("topic read public/#\nuser alice\ntopic readwrite alice/#\n"), 0o600)
	ctx := context.Background()
	anon := ConnInfo{ClientID: "a"}

	for _, tc := range []struct {
		files                 Files
		anonOK, alice, wrongU bool
	}{
		{Files{PasswordFile: pw, ACLFile: acl}, false, true, false},
		{Files{PasswordFile: pw, AllowAnonymous: true}, true, true, false},
		{Files{AllowAnonymous: true}, true, true, true},
		{Files{}, false, false, false},
	} {
		authn, authz, _, err := tc.files.Load()
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := authn.Authenticate(ctx, anon); r.OK() != tc.anonOK {
			t.Errorf("%+v: anonymous %+v, want %v", tc.files, r, tc.anonOK)
		}
		if r := login(t, authn, "alice", "secret"); r.OK() != tc.alice {
			t.Errorf("%+v: alice %+v, want %v", tc.files, r, tc.alice)
		}
		if r := login(t, authn, "alice", "wrong"); r.OK() != tc.wrongU {
			t.Errorf("%+v: wrong password %+v, want %v", tc.files, r, tc.wrongU)
		}
		if tc.files.ACLFile == "" && !authz.Allow(ctx, ClientInfo{ClientID: "a"}, Publish, "x") {
			t.Errorf("%+v: no ACL file refused a publish", tc.files)
		}
	}

	authn, authz, reload, err := Files{PasswordFile: pw, ACLFile: acl}.Load()
	if err != nil {
		t.Fatal(err)
	}
	alice := ClientInfo{ClientID: "a", Username: "alice"}
	if !authz.Allow(ctx, alice, Publish, "alice/x") || authz.Allow(ctx, alice, Subscribe, "public/#") {
		t.Fatal("ACL not applied")
	}
	// Reload picks up both files; a bad file reports its error and keeps the old rules.
	os.WriteFile(acl, []byte("user alice\ntopic read public/#\n"), 0o600)
	os.WriteFile(pw, []byte(strings.SplitN(string(golden), "\n", 2)[1]), 0o600) // alice removed
	if err := reload(); err != nil {
		t.Fatal(err)
	}
	if !authz.Allow(ctx, alice, Subscribe, "public/#") || authz.Allow(ctx, alice, Publish, "alice/x") {
		t.Fatal("ACL not reloaded")
	}
	if r := login(t, authn, "alice", "secret"); r.OK() || r.Code != packet.BadUsernameOrPassword {
		t.Fatalf("removed user: %+v", r)
	}
	os.WriteFile(acl, []byte("bogus\n"), 0o600)
	if err := reload(); err == nil || !strings.Contains(err.Error(), acl+":1:") {
		t.Fatalf("bad ACL reload: %v", err)
	}
	if !authz.Allow(ctx, alice, Subscribe, "public/#") {
		t.Fatal("failed reload dropped the rules")
	}
	if _, _, _, err := (Files{ACLFile: filepath.Join(dir, "missing")}).Load(); err == nil {
		t.Fatal("missing ACL file loaded")
	}
	if _, _, _, err := (Files{PasswordFile: filepath.Join(dir, "missing")}).Load(); err == nil {
		t.Fatal("missing password file loaded")
	}
}
