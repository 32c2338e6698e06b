package main

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// envName returns the environment variable of a configuration key: TERN_
// and the key in upper case, dots as underscores (limits.max_connections:
// TERN_LIMITS_MAX_CONNECTIONS).
func envName(key string) string {
	return "TERN_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// loadEnv sets, for each configuration key whose environment variable is
// set, its flag in fs, unless the command line set that flag. It runs
// before loadConfigFile, which leaves the flags set here alone: the
// command line overrides the environment, which overrides the file. A
// list (listeners.*) is separated by commas; TERN_CONFIG names the
// configuration file. A bad value stops with the variable and what was
// expected.
func loadEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	cmdline := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { cmdline[f.Name] = true })
	keys := make([]string, 0, len(configKeys))
	for k := range configKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if v, ok := lookup("TERN_CONFIG"); ok && !cmdline["config"] && fs.Lookup("config") != nil {
		if err := fs.Set("config", v); err != nil {
			return fmt.Errorf("environment TERN_CONFIG: %w", err)
		}
	}
	for _, key := range keys {
		ck := configKeys[key]
		name := envName(key)
		v, ok := lookup(name)
		f := fs.Lookup(ck.flag)
		if !ok || cmdline[ck.flag] || f == nil {
			continue
		}
		typ := f.Value.Type()
		vals := []string{v}
		if typ == "stringArray" {
			vals = vals[:0]
			for e := range strings.SplitSeq(v, ",") {
				if e = strings.TrimSpace(e); e != "" {
					vals = append(vals, e)
				}
			}
		}
		for _, e := range vals {
			if ck.enum != nil && !slices.Contains(ck.enum, e) {
				return fmt.Errorf("environment %s=%q: want one of %s", name, e, strings.Join(ck.enum, ", "))
			}
			if err := fs.Set(ck.flag, e); err != nil {
				var why string
				if ne := errors.Unwrap(err); ne != nil {
					why = " (" + ne.Error() + ")"
				}
				return fmt.Errorf("environment %s=%q: want %s%s", name, e, expected(typ), why)
			}
		}
	}
	return nil
}
