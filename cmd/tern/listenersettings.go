package main

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/store"
)

// Per-listener settings. The configuration file's listeners.settings is a
// list of mappings, each naming one listener by its address and the
// settings that differ from the global ones:
//
//	listeners:
//	  mqtt: ["127.0.0.1:1883", ":1884"]
//	  settings:
//	    - address: ":1884"
//	      allow_anonymous: false
//	      password_file: /etc/tern/passwd
//	      durability: memory
//
// On the command line (--listener-settings) and in TERN_LISTENERS_SETTINGS
// one entry is the address and key=value pairs separated by semicolons:
// ":1884;allow_anonymous=false;password_file=/etc/tern/passwd".

// listenerKeys are the keys of one entry of listeners.settings, besides
// address, with their allowed values (nil: any string).
var listenerKeys = map[string][]string{
	"allow_anonymous": {"true", "false"},
	"password_file":   nil,
	"acl_file":        nil,
	"scram_file":      nil,
	"durability":      {"sync", "memory"},
}

// listenerSetting is the parsed settings of one listener.
type listenerSetting struct {
	address        string
	allowAnonymous *bool // nil: as the global settings say
	passwordFile   string
	aclFile        string
	scramFile      string
	durability     string // "": the global durability
}

// ownAuth reports whether the listener has authentication settings of its
// own.
func (ls *listenerSetting) ownAuth() bool {
	return ls.allowAnonymous != nil || ls.passwordFile != "" || ls.aclFile != "" || ls.scramFile != ""
}

// set sets key to v, checking it.
func (ls *listenerSetting) set(key, v string) error {
	allowed, ok := listenerKeys[key]
	if !ok {
		return fmt.Errorf("unknown key %q; known keys: address, %s", key, strings.Join(sortedKeys(listenerKeys), ", "))
	}
	if allowed != nil && !slices.Contains(allowed, v) {
		return fmt.Errorf("%s %q: want one of %s", key, v, strings.Join(allowed, ", "))
	}
	switch key {
	case "allow_anonymous":
		b, _ := strconv.ParseBool(v)
		ls.allowAnonymous = &b
	case "password_file":
		ls.passwordFile = v
	case "acl_file":
		ls.aclFile = v
	case "scram_file":
		ls.scramFile = v
	case "durability":
		ls.durability = v
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// parseListenerSetting parses one --listener-settings value.
func parseListenerSetting(s string) (listenerSetting, error) {
	parts := strings.Split(s, ";")
	ls := listenerSetting{address: strings.TrimSpace(parts[0])}
	if ls.address == "" || strings.Contains(ls.address, "=") {
		return ls, fmt.Errorf("--listener-settings %q: want ADDRESS;key=value;...", s)
	}
	for _, p := range parts[1:] {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return ls, fmt.Errorf("--listener-settings %q: %q is not key=value", s, p)
		}
		if err := ls.set(strings.TrimSpace(k), strings.TrimSpace(v)); err != nil {
			return ls, fmt.Errorf("--listener-settings %s: %w", ls.address, err)
		}
	}
	return ls, nil
}

// listenerSettingsFromYAML turns the list listeners.settings into
// --listener-settings values; an error names the line and the key.
func (l *configLoader) listenerSettingsFromYAML(n *yaml.Node, path string) ([]string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, l.errorf(n, path, "want a list of mappings, each with an address and its settings (%s)",
			strings.Join(sortedKeys(listenerKeys), ", "))
	}
	var out []string
	for i, e := range n.Content {
		where := fmt.Sprintf("%s[%d]", path, i)
		if e.Kind != yaml.MappingNode {
			return nil, l.errorf(e, where, "want a mapping with an address and its settings")
		}
		var addr string
		var pairs []string
		seen := map[string]bool{}
		for j := 0; j+1 < len(e.Content); j += 2 {
			k, v := e.Content[j], e.Content[j+1]
			key := where + "." + k.Value
			if seen[k.Value] {
				return nil, l.errorf(k, key, "defined twice")
			}
			seen[k.Value] = true
			if v.Kind != yaml.ScalarNode || strings.ContainsAny(v.Value, ";\n") {
				return nil, l.errorf(v, key, "want a single value (without ';')")
			}
			if k.Value == "address" {
				addr = v.Value
				continue
			}
			var ls listenerSetting
			if err := ls.set(k.Value, v.Value); err != nil {
				return nil, l.errorf(k, key, "%v", err)
			}
			pairs = append(pairs, k.Value+"="+v.Value)
		}
		if addr == "" {
			return nil, l.errorf(e, where, "no address: want the address of one of the listeners")
		}
		if strings.Contains(addr, ",") {
			return nil, l.errorf(e, where+".address", "%q: want one address", addr)
		}
		out = append(out, strings.Join(append([]string{addr}, pairs...), ";"))
	}
	return out, nil
}

// listenerSettings parses the --listener-settings values; each address
// must be one of the listeners (all: every listen address) and appear once.
func (o *serveOptions) listenerSettings(all []string) (map[string]*listenerSetting, error) {
	if len(o.listenerSettingsRaw) == 0 {
		return nil, nil
	}
	set := map[string]*listenerSetting{}
	for _, raw := range o.listenerSettingsRaw {
		ls, err := parseListenerSetting(raw)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(all, ls.address) {
			return nil, fmt.Errorf("listener settings for %s (listeners.settings): not the address of a listener", ls.address)
		}
		if set[ls.address] != nil {
			return nil, fmt.Errorf("listener settings for %s (listeners.settings): given twice", ls.address)
		}
		set[ls.address] = &ls
	}
	return set, nil
}

// listenerOptions returns the broker options of the listener of ls (nil:
// none), the reload of its files on SIGHUP (nil: none) and whether it lets
// anonymous clients in.
func (o *serveOptions) listenerOptions(ls *listenerSetting, st store.Store, log *slog.Logger) (lo broker.ListenerOptions, reload func() error, anonymous bool, err error) {
	anonymous = o.anonymous()
	if ls == nil {
		return lo, nil, anonymous, nil
	}
	lo.Name = ls.address
	switch ls.durability {
	case "memory":
		lo.Durability = broker.DurabilityMemory
	case "sync":
		if st == nil || o.intervalStore {
			return lo, nil, false, fmt.Errorf("listener %s: durability sync needs storage.durability sync (with storage.data_dir)", ls.address)
		}
		lo.Durability = broker.DurabilitySync
	}
	attrs := []any{"listener", ls.address, "durability", orElse(ls.durability, "global")}
	if ls.ownAuth() {
		// Each setting not given falls back to the global one.
		f := auth.Files{PasswordFile: orElse(ls.passwordFile, o.passwordFile), ACLFile: orElse(ls.aclFile, o.aclFile)}
		scram := orElse(ls.scramFile, o.scramFile)
		switch {
		case ls.allowAnonymous != nil:
			f.AllowAnonymous = *ls.allowAnonymous
		case o.anonymousSet:
			f.AllowAnonymous = o.allowAnonymous
		default:
			f.AllowAnonymous = f.PasswordFile == "" && f.ACLFile == "" && scram == ""
		}
		authn, authz, files, err := f.Load()
		if err != nil {
			return lo, nil, false, fmt.Errorf("listener %s: loading security files: %w", ls.address, err)
		}
		lo.Authenticator, lo.Authorizer, anonymous = authn, authz, f.AllowAnonymous
		reload = files
		if ls.scramFile != "" {
			sf, err := loadSCRAMFile(ls.scramFile)
			if err != nil {
				return lo, nil, false, fmt.Errorf("listener %s: %w", ls.address, err)
			}
			lo.EnhancedAuth = []broker.EnhancedAuth{sf.method()}
			reload = func() error { return errors.Join(files(), sf.Reload()) }
		}
		attrs = append(attrs, "password_file", f.PasswordFile, "acl_file", f.ACLFile, "scram_file", scram,
			"allow_anonymous", f.AllowAnonymous)
		addr := ls.address
		rl := reload
		reload = func() error {
			if err := rl(); err != nil {
				return fmt.Errorf("listener %s: %w", addr, err)
			}
			return nil
		}
	}
	log.Info("listener settings", attrs...)
	return lo, reload, anonymous, nil
}

// orElse returns the first of a and b that is not empty.
func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
