package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// configKey is one key of the configuration file: the flag it sets, and
// for an enumeration the values allowed.
type configKey struct {
	flag string
	enum []string
}

// configKeys maps every key of the configuration file (dotted path) to the
// flag of tern serve it sets. docs/configuration.md documents each.
var configKeys = map[string]configKey{
	"log_level":                           {flag: "log-level", enum: []string{"debug", "info", "warn", "error"}},
	"listeners.mqtt":                      {flag: "listen"},
	"listeners.mqtts":                     {flag: "tls-listen"},
	"listeners.ws":                        {flag: "ws-listen"},
	"listeners.wss":                       {flag: "wss-listen"},
	"tls.cert":                            {flag: "cert"},
	"tls.key":                             {flag: "key"},
	"tls.client_ca":                       {flag: "client-ca"},
	"tls.use_identity_as_username":        {flag: "use-identity-as-username"},
	"auth.password_file":                  {flag: "password-file"},
	"auth.acl_file":                       {flag: "acl-file"},
	"auth.scram_file":                     {flag: "scram-file"},
	"auth.allow_anonymous":                {flag: "allow-anonymous"},
	"admin.listen":                        {flag: "admin-listen"},
	"drain.server_reference":              {flag: "drain-server-reference"},
	"drain.server_moved":                  {flag: "drain-server-moved"},
	"drain.rate":                          {flag: "drain-rate"},
	"sys_interval":                        {flag: "sys-interval"},
	"storage.data_dir":                    {flag: "data-dir"},
	"storage.durability":                  {flag: "durability", enum: []string{"sync", "interval", "memory"}},
	"storage.sync_interval":               {flag: "sync-interval"},
	"storage.salvage_log":                 {flag: "salvage-log"},
	"limits.max_connections":              {flag: "max-connections"},
	"limits.max_packet_size":              {flag: "max-packet-size"},
	"limits.max_client_id_length":         {flag: "max-client-id-length"},
	"limits.publish_rate":                 {flag: "publish-rate"},
	"limits.publish_burst":                {flag: "publish-burst"},
	"limits.receive_maximum":              {flag: "receive-maximum"},
	"limits.max_queued_messages":          {flag: "max-queued"},
	"limits.max_queued_bytes":             {flag: "max-queued-bytes"},
	"limits.max_session_expiry":           {flag: "max-session-expiry"},
	"limits.persistent_client_expiration": {flag: "persistent-client-expiration"},
	"limits.connect_timeout":              {flag: "connect-timeout"},
	"delivery.send_window":                {flag: "send-window"},
	"delivery.queue_qos0":                 {flag: "queue-qos0"},
	"delivery.retry_interval":             {flag: "retry-interval"},
	"delivery.retry_max":                  {flag: "retry-max"},
	"delivery.share_policy":               {flag: "share-policy", enum: []string{"round-robin", "random", "hash-topic", "hash-client"}},
	"mqtt.maximum_qos":                    {flag: "maximum-qos", enum: []string{"0", "1", "2"}},
	"mqtt.retain_available":               {flag: "retain-available"},
	"mqtt.wildcard_subscriptions":         {flag: "wildcard-subscriptions"},
	"mqtt.subscription_identifiers":       {flag: "subscription-identifiers"},
	"mqtt.shared_subscriptions":           {flag: "shared-subscriptions"},
	"mqtt.topic_alias_maximum":            {flag: "topic-alias-maximum"},
	"mqtt.server_keep_alive":              {flag: "server-keep-alive"},

	// Listener options and limits of the operations guide.
	"tls.identity_from":                   {flag: "identity-from", enum: []string{"cn", "san-dns", "san-email", "san-uri"}},
	"log_format":                          {flag: "log-format", enum: []string{"text", "json"}},
	"listeners.proxy_protocol":            {flag: "proxy-protocol"},
	"listeners.proxy_header_timeout":      {flag: "proxy-header-timeout"},
	"listeners.settings":                  {flag: "listener-settings"},
	"limits.connection_rate":              {flag: "connection-rate"},
	"limits.connection_burst":             {flag: "connection-burst"},
	"limits.ban_threshold":                {flag: "ban-threshold"},
	"limits.ban_window":                   {flag: "ban-window"},
	"limits.ban_duration":                 {flag: "ban-duration"},
	"limits.max_subscriptions":            {flag: "max-subscriptions"},
	"limits.max_connections_per_listener": {flag: "max-connections-per-listener"},
	"limits.max_topic_length":             {flag: "max-topic-length"},
	"limits.max_topic_levels":             {flag: "max-topic-levels"},
	"limits.slow_consumer_timeout":        {flag: "slow-consumer-timeout"},
}

// expected describes the values a flag type takes, for error messages.
func expected(typ string) string {
	switch typ {
	case "bool":
		return "true or false"
	case "int", "int64", "uint32":
		return "an integer"
	case "float64":
		return "a number"
	case "duration":
		return `a duration such as "10s", "1m30s" or "0"`
	case "stringArray":
		return "a list of strings (or one string)"
	}
	return "a string"
}

// loadConfigFile reads the YAML configuration file path and sets, for each
// key, its flag in fs, unless the command line set that flag: flags
// override the file. An unknown key, a value of the wrong kind or out of
// its enumeration stops with the file, the line, the key and what was
// expected.
func loadConfigFile(path string, fs *pflag.FlagSet) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("configuration file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("configuration file %s: %w", path, err)
	}
	if len(doc.Content) == 0 { // empty file
		return nil
	}
	cmdline := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { cmdline[f.Name] = true })
	l := &configLoader{path: path, fs: fs, cmdline: cmdline}
	return l.section(doc.Content[0], "")
}

type configLoader struct {
	path    string
	fs      *pflag.FlagSet
	cmdline map[string]bool
}

func (l *configLoader) errorf(n *yaml.Node, key, format string, args ...any) error {
	return fmt.Errorf("configuration file %s:%d: %s: %s", l.path, n.Line, key, fmt.Sprintf(format, args...))
}

// knownUnder lists the keys directly under a section ("" for the top).
func knownUnder(prefix string) []string {
	set := map[string]bool{}
	for k := range configKeys {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			name, _, _ := strings.Cut(rest, ".")
			set[name] = true
		}
	}
	names := make([]string, 0, len(set))
	for k := range set {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func isSection(path string) bool {
	for k := range configKeys {
		if strings.HasPrefix(k, path+".") {
			return true
		}
	}
	return false
}

func (l *configLoader) section(n *yaml.Node, prefix string) error {
	name := strings.TrimSuffix(prefix, ".")
	if name == "" {
		name = "top level"
	}
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		return l.errorf(n, name, "want a mapping of keys (%s)", strings.Join(knownUnder(prefix), ", "))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := prefix + k.Value
		if seen[k.Value] {
			return l.errorf(k, path, "defined twice")
		}
		seen[k.Value] = true
		if isSection(path) {
			if err := l.section(v, path+"."); err != nil {
				return err
			}
			continue
		}
		ck, ok := configKeys[path]
		if !ok {
			return l.errorf(k, path, "unknown key; known keys in %s: %s", name, strings.Join(knownUnder(prefix), ", "))
		}
		if ck.flag == "listener-settings" { // a list of mappings
			vals, err := l.listenerSettingsFromYAML(v, path)
			if err != nil {
				return err
			}
			if !l.cmdline[ck.flag] {
				for _, e := range vals {
					if err := l.fs.Set(ck.flag, e); err != nil {
						return l.errorf(v, path, "%v", err)
					}
				}
			}
			continue
		}
		if err := l.value(v, path, ck); err != nil {
			return err
		}
	}
	return nil
}

func (l *configLoader) value(n *yaml.Node, path string, ck configKey) error {
	f := l.fs.Lookup(ck.flag)
	if f == nil {
		return l.errorf(n, path, "not supported by this version")
	}
	typ := f.Value.Type()
	var vals []string
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil // key present without a value: the default
	case n.Kind == yaml.ScalarNode:
		vals = []string{n.Value}
	case n.Kind == yaml.SequenceNode && typ == "stringArray":
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				return l.errorf(e, path, "want %s", expected(typ))
			}
			vals = append(vals, e.Value)
		}
	default:
		return l.errorf(n, path, "want %s", expected(typ))
	}
	if l.cmdline[ck.flag] {
		return nil // the command line wins
	}
	for _, v := range vals {
		if ck.enum != nil && !slices.Contains(ck.enum, v) {
			return l.errorf(n, path, "%q: want one of %s", v, strings.Join(ck.enum, ", "))
		}
		if err := l.fs.Set(ck.flag, v); err != nil {
			var why string
			if ne := errors.Unwrap(err); ne != nil {
				why = " (" + ne.Error() + ")"
			}
			return l.errorf(n, path, "%q: want %s%s", v, expected(typ), why)
		}
	}
	return nil
}
