package conformance

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Statement is one normative statement of a specification.
type Statement struct {
	Tag  string // as cited in code: "MQTT-x.y.z-n" (3.1.1) or "MQTT5-x.y.z-n" (5.0)
	Text string
}

// Site is one place that cites a tag.
type Site struct {
	File string
	Line int
	Test bool
}

// Spec is a specification's list of statements.
type Spec struct {
	Name       string
	Statements []Statement
}

// LoadSpec reads a TSV list (ID<TAB>text, '#' comments). prefix is the tag
// prefix used in code ("MQTT-" or "MQTT5-").
func LoadSpec(path, name, prefix string) (Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return Spec{}, fmt.Errorf("open spec list: %w", err)
	}
	defer f.Close()
	spec := Spec{Name: name}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, text, ok := strings.Cut(line, "\t")
		if !ok || !strings.HasPrefix(id, "MQTT-") {
			return Spec{}, fmt.Errorf("%s: bad line %q", path, line)
		}
		spec.Statements = append(spec.Statements, Statement{Tag: prefix + strings.TrimPrefix(id, "MQTT-"), Text: text})
	}
	if err := sc.Err(); err != nil {
		return Spec{}, fmt.Errorf("read %s: %w", path, err)
	}
	return spec, nil
}

// selfDir is this package, relative to the module root: Scan skips it.
const selfDir = "internal/conformance"

var tagRE = regexp.MustCompile(`MQTT5?-\d+\.\d+\.\d+-\d+`)

// Scan walks the Go files under root (but this package's own, whose notes
// name statements without implementing them) and returns every tag with its
// sites.
// Tags are recognised inside square brackets, alone or in lists such as
// [MQTT-a.b.c-1, MQTT-a.b.c-2] or [MQTT-a.b.c-1][MQTT5-a.b.c-1], with numbers.
func Scan(root string) (map[string][]Site, error) {
	sites := map[string][]Site{}
	err := walkGo(root, ".go", true, func(rel string, lines []string) {
		for i, line := range lines {
			for _, tag := range tagRE.FindAllString(line, -1) {
				sites[tag] = append(sites[tag], Site{File: rel, Line: i + 1, Test: strings.HasSuffix(rel, "_test.go")})
			}
		}
	})
	return sites, err
}

// walkGo calls fn with the lines of every file under root whose name ends
// in suffix, rel being its slash-separated path from root. Hidden
// directories, testdata, node_modules and vendor are skipped, and this
// package when skipSelf is set.
func walkGo(root, suffix string, skipSelf bool, fn func(rel string, lines []string)) error {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "vendor") {
				return filepath.SkipDir
			}
			if skipSelf && rel == selfDir {
				return filepath.SkipDir // the notes name statements; they implement none
			}
			return nil
		}
		if !strings.HasSuffix(path, suffix) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fn(rel, strings.Split(string(data), "\n"))
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan %s: %w", root, err)
	}
	return nil
}

// Unknown returns the cited tags that no spec list holds, sorted.
func Unknown(sites map[string][]Site, specs ...Spec) []string {
	known := map[string]bool{}
	for _, s := range specs {
		for _, st := range s.Statements {
			known[st.Tag] = true
		}
	}
	var bad []string
	for tag, ss := range sites {
		if !known[tag] {
			bad = append(bad, fmt.Sprintf("%s (%s:%d)", tag, ss[0].File, ss[0].Line))
		}
	}
	sort.Strings(bad)
	return bad
}

// LoadSpecs reads both statement lists from docs/spec under the module
// root: MQTT 3.1.1 then MQTT 5.0.
func LoadSpecs(root string) ([]Spec, error) {
	v3, err := LoadSpec(filepath.Join(root, "docs/spec/mqtt-3.1.1.tsv"), "MQTT 3.1.1", "MQTT-")
	if err != nil {
		return nil, err
	}
	v5, err := LoadSpec(filepath.Join(root, "docs/spec/mqtt-5.0.tsv"), "MQTT 5.0", "MQTT5-")
	if err != nil {
		return nil, err
	}
	return []Spec{v3, v5}, nil
}
