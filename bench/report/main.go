// Command report turns the JSON results of bench/compare.sh into Markdown
// tables and gnuplot plots, and splices them into docs/benchmarks.md.
//
//	report pass FILE MAXLOSS% MAXP99MS   exit 0 when a run met both limits
//	report summarize -dir DIR -brokers "tern mochi" ...  Markdown on stdout
//	report splice -doc FILE -section FILE  replace the generated section
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tern-mq/tern/internal/loadgen"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: report pass|summarize|splice ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "pass":
		err = pass(os.Args[2:])
	case "summarize":
		err = summarize(os.Args[2:])
	case "splice":
		err = splice(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func pass(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: report pass FILE MAXLOSS MAXP99MS")
	}
	var res loadgen.Result
	b, err := os.ReadFile(args[0])
	if err != nil || json.Unmarshal(b, &res) != nil {
		os.Exit(1) // a failed run does not pass
	}
	var maxLoss, maxP99 float64
	fmt.Sscan(args[1], &maxLoss)
	fmt.Sscan(args[2], &maxP99)
	if res.Sent == 0 || res.LossPercent >= maxLoss || res.Latency == nil || res.Latency.P99 >= maxP99 || len(res.Errors) > 0 {
		os.Exit(1)
	}
	return nil
}

const (
	begin = "<!-- bench/compare.sh: begin -->"
	end   = "<!-- bench/compare.sh: end -->"
)

func splice(args []string) error {
	fs := flag.NewFlagSet("splice", flag.ExitOnError)
	doc := fs.String("doc", "", "document to update")
	section := fs.String("section", "", "generated Markdown")
	fs.Parse(args)
	d, err := os.ReadFile(*doc)
	if err != nil {
		return err
	}
	s, err := os.ReadFile(*section)
	if err != nil {
		return err
	}
	block := begin + "\n" + strings.TrimSpace(string(s)) + "\n" + end
	text := string(d)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i >= 0 && j > i {
		text = text[:i] + block + text[j+len(end):]
	} else {
		text = strings.TrimRight(text, "\n") + "\n\n" + block + "\n"
	}
	return os.WriteFile(*doc, []byte(text), 0o644)
}

// results holds every measurement: scenario → broker → runs.
type results struct {
	runs  map[string]map[string][]*loadgen.Result
	conns map[string][]*loadgen.ConnResult
	sust  map[string][]float64
}

func load(dir string) (*results, error) {
	r := &results{runs: map[string]map[string][]*loadgen.Result{}, conns: map[string][]*loadgen.ConnResult{}, sust: map[string][]float64{}}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		parts := strings.Split(strings.TrimSuffix(filepath.Base(f), ".json"), "@")
		if len(parts) != 3 || strings.HasPrefix(parts[0], "ladder-") {
			continue
		}
		name, broker := parts[0], parts[1]
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		switch name {
		case "conns":
			var c loadgen.ConnResult
			if err := json.Unmarshal(b, &c); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			r.conns[broker] = append(r.conns[broker], &c)
		case "sustained":
			var s struct {
				Rate float64 `json:"sustained_per_second"`
			}
			if err := json.Unmarshal(b, &s); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			r.sust[broker] = append(r.sust[broker], s.Rate)
		default:
			var res loadgen.Result
			if err := json.Unmarshal(b, &res); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if r.runs[name] == nil {
				r.runs[name] = map[string][]*loadgen.Result{}
			}
			r.runs[name][broker] = append(r.runs[name][broker], &res)
		}
	}
	return r, nil
}

// tp is a throughput scenario.
type tp struct{ key, label string }

// stat is the median and range of a set of values.
type stat struct {
	med, lo, hi float64
	n           int
}

func stats(v []float64) stat {
	if len(v) == 0 {
		return stat{}
	}
	s := slices.Sorted(slices.Values(v))
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{med: m, lo: s[0], hi: s[len(s)-1], n: len(s)}
}

func (s stat) cell(format func(float64) string) string {
	switch s.n {
	case 0:
		return "—"
	case 1:
		return format(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", format(s.med), format(s.lo), format(s.hi))
}

func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func ms(v float64) string { return fmt.Sprintf("%.2f", v) }
func pct(v float64) string {
	if v != 0 && v < 0.01 {
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

var names = map[string]string{"tern": "Tern", "mochi": "mochi-mqtt", "mosquitto": "Mosquitto", "relay": "relay (ceiling)"}

func name(b string) string {
	if n, ok := names[b]; ok {
		return n
	}
	return b
}

func ratio(a, b stat) string {
	if a.n == 0 || b.n == 0 || b.med == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a.med/b.med)
}

func (r *results) metric(scenario, broker string, f func(*loadgen.Result) float64) stat {
	var v []float64
	for _, res := range r.runs[scenario][broker] {
		v = append(v, f(res))
	}
	return stats(v)
}

func summarize(args []string) error {
	fs := flag.NewFlagSet("summarize", flag.ExitOnError)
	dir := fs.String("dir", "", "results directory")
	brokerList := fs.String("brokers", "tern mochi mosquitto relay", "brokers in column order")
	mode := fs.String("mode", "", "run mode, for the text")
	cmdLine := fs.String("cmd", "bench/compare.sh", "command that produced the results")
	conns := fs.Int("conns", 0, "idle connections opened")
	plots := fs.String("plots", "", "directory for PNG plots (gnuplot); empty: none")
	fs.Parse(args)
	r, err := load(*dir)
	if err != nil {
		return err
	}
	brokers := strings.Fields(*brokerList)
	var w bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&w, format, a...) }

	p("## Side by side: Tern, mochi-mqtt, Mosquitto\n\n")
	p("Generated by `%s` — %s. Cells are the median with the range (min–max) of the runs; ratios compare medians.\n\n", strings.TrimSpace(*cmdLine), *mode)

	header := func(first string, extra ...string) {
		p("| %s |", first)
		for _, b := range brokers {
			p(" %s |", name(b))
		}
		for _, e := range extra {
			p(" %s |", e)
		}
		p("\n|---|")
		for range len(brokers) + len(extra) {
			p("---:|")
		}
		p("\n")
	}
	hasTern := slices.Contains(brokers, "tern")
	var ratioCols []string
	for _, o := range []string{"mochi", "mosquitto"} {
		if hasTern && slices.Contains(brokers, o) {
			ratioCols = append(ratioCols, "Tern / "+name(o))
		}
	}
	ratios := func(get func(b string) stat) {
		for _, o := range []string{"mochi", "mosquitto"} {
			if hasTern && slices.Contains(brokers, o) {
				p(" %s |", ratio(get("tern"), get(o)))
			}
		}
	}

	p("### Throughput (64-byte payloads, delivered messages per second)\n\n")
	header("scenario", ratioCols...)
	tps := []tp{{"fanin-q0", "fan-in QoS 0 flat-out (10 → 1)"}, {"fanout-q0", "fan-out QoS 0 flat-out (1 → 100)"},
		{"fanin-q1", "fan-in QoS 1 flat-out (10 → 1)"}, {"fanin-q2", "fan-in QoS 2 flat-out (10 → 1)"}}
	delivered := func(x *loadgen.Result) float64 { return x.DeliveredRate }
	for _, t := range tps {
		p("| %s |", t.label)
		for _, b := range brokers {
			p(" %s |", r.metric(t.key, b, delivered).cell(thousands))
		}
		ratios(func(b string) stat { return r.metric(t.key, b, delivered) })
		p("\n")
	}
	p("| highest sustained fan-in QoS 0 (loss < 1 %%, p99 < 100 ms) |")
	for _, b := range brokers {
		p(" %s |", stats(r.sust[b]).cell(thousands))
	}
	ratios(func(b string) stat { return stats(r.sust[b]) })
	p("\n\n")

	p("### Loss and duplicates in the flat-out runs (%% of expected deliveries lost; duplicates)\n\n")
	header("scenario")
	for _, t := range tps {
		p("| %s |", t.label)
		for _, b := range brokers {
			l := r.metric(t.key, b, func(x *loadgen.Result) float64 { return x.LossPercent })
			d := r.metric(t.key, b, func(x *loadgen.Result) float64 { return float64(x.Duplicates) })
			if l.n == 0 {
				p(" — |")
				continue
			}
			p(" %s %%; %s |", l.cell(pct), thousands(d.med))
		}
		p("\n")
	}
	p("\n")

	p("### Broker CPU (%% of one core, averaged over the measured window; the machine has 2 cores)\n\n")
	header("scenario")
	cpu := func(x *loadgen.Result) float64 {
		if x.Broker == nil {
			return 0
		}
		return x.Broker.CPUPercent
	}
	gen := func(x *loadgen.Result) float64 {
		if x.Generator == nil {
			return 0
		}
		return x.Generator.CPUPercent
	}
	for _, t := range append(tps, tp{"latency-q0", "QoS 0 at 10,000 msg/s"}, tp{"latency-q1", "QoS 1 at 10,000 msg/s"}) {
		p("| %s |", t.label)
		for _, b := range brokers {
			c, g := r.metric(t.key, b, cpu), r.metric(t.key, b, gen)
			if c.n == 0 {
				p(" — |")
				continue
			}
			p(" %.0f (generator %.0f) |", c.med, g.med)
		}
		p("\n")
	}
	p("\n")

	p("### End-to-end latency at a fixed 10,000 msg/s (10 publishers × 1,000 msg/s → 1 subscriber), ms\n\n")
	p("Measured from each message's intended send time (corrected for coordinated omission).\n\n")
	header("QoS, percentile", ratioCols...)
	for _, q := range []string{"latency-q0", "latency-q1"} {
		for _, pc := range []struct {
			label string
			f     func(*loadgen.LatencyStats) float64
		}{{"p50", func(l *loadgen.LatencyStats) float64 { return l.P50 }}, {"p90", func(l *loadgen.LatencyStats) float64 { return l.P90 }},
			{"p99", func(l *loadgen.LatencyStats) float64 { return l.P99 }}, {"p99.9", func(l *loadgen.LatencyStats) float64 { return l.P999 }},
			{"max", func(l *loadgen.LatencyStats) float64 { return l.Max }}} {
			get := func(b string) stat {
				return r.metric(q, b, func(x *loadgen.Result) float64 {
					if x.Latency == nil {
						return 0
					}
					return pc.f(x.Latency)
				})
			}
			p("| QoS %s %s |", q[len(q)-1:], pc.label)
			for _, b := range brokers {
				p(" %s |", get(b).cell(ms))
			}
			ratios(get)
			p("\n")
		}
	}
	p("\n")

	p("### Connections (%s idle connections, 100 handshakes at a time, client in another process)\n\n", thousands(float64(*conns)))
	header("metric", ratioCols...)
	cget := func(f func(*loadgen.ConnResult) float64) func(b string) stat {
		return func(b string) stat {
			var v []float64
			for _, c := range r.conns[b] {
				v = append(v, f(c))
			}
			return stats(v)
		}
	}
	for _, row := range []struct {
		label  string
		f      func(*loadgen.ConnResult) float64
		format func(float64) string
	}{
		{"connections per second", func(c *loadgen.ConnResult) float64 { return c.Connect.Rate }, thousands},
		{"connected", func(c *loadgen.ConnResult) float64 { return float64(c.Connect.Connected) }, thousands},
		{"broker RSS per idle connection (bytes)", func(c *loadgen.ConnResult) float64 { return c.BytesPerConn }, thousands},
		{"handshake p99 (ms)", func(c *loadgen.ConnResult) float64 {
			if c.Connect.Latency == nil {
				return 0
			}
			return c.Connect.Latency.P99
		}, ms},
	} {
		p("| %s |", row.label)
		for _, b := range brokers {
			p(" %s |", cget(row.f)(b).cell(row.format))
		}
		ratios(cget(row.f))
		p("\n")
	}
	p("\n")
	if *plots != "" {
		if err := plot(r, brokers, *plots, tps, delivered); err != nil {
			fmt.Fprintln(os.Stderr, "report: no plots:", err)
		} else {
			p("![throughput](../bench/plots/throughput.png)\n![latency](../bench/plots/latency.png)\n\n")
		}
	}
	_, err = os.Stdout.Write(w.Bytes())
	return err
}

// plot writes throughput.png and latency.png with gnuplot.
func plot(r *results, brokers []string, dir string, tps []tp, delivered func(*loadgen.Result) float64) error {
	if _, err := exec.LookPath("gnuplot"); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var tdat, ldat bytes.Buffer
	fmt.Fprint(&tdat, "scenario")
	fmt.Fprint(&ldat, "percentile")
	for _, b := range brokers {
		fmt.Fprintf(&tdat, "\t%q", name(b))
		fmt.Fprintf(&ldat, "\t%q", name(b)+" QoS 0")
	}
	for _, b := range brokers {
		fmt.Fprintf(&ldat, "\t%q", name(b)+" QoS 1")
	}
	fmt.Fprintln(&tdat)
	fmt.Fprintln(&ldat)
	short := map[string]string{"fanin-q0": "fan-in QoS 0", "fanout-q0": "fan-out QoS 0", "fanin-q1": "fan-in QoS 1", "fanin-q2": "fan-in QoS 2"}
	for _, t := range tps {
		fmt.Fprintf(&tdat, "%q", short[t.key])
		for _, b := range brokers {
			fmt.Fprintf(&tdat, "\t%.0f", r.metric(t.key, b, delivered).med)
		}
		fmt.Fprintln(&tdat)
	}
	fmt.Fprintf(&tdat, "%q", "sustained QoS 0")
	for _, b := range brokers {
		fmt.Fprintf(&tdat, "\t%.0f", stats(r.sust[b]).med)
	}
	fmt.Fprintln(&tdat)
	for _, pc := range []struct {
		label string
		f     func(*loadgen.LatencyStats) float64
	}{{"p50", func(l *loadgen.LatencyStats) float64 { return l.P50 }}, {"p90", func(l *loadgen.LatencyStats) float64 { return l.P90 }},
		{"p99", func(l *loadgen.LatencyStats) float64 { return l.P99 }}, {"p99.9", func(l *loadgen.LatencyStats) float64 { return l.P999 }}} {
		fmt.Fprintf(&ldat, "%q", pc.label)
		for _, q := range []string{"latency-q0", "latency-q1"} {
			for _, b := range brokers {
				fmt.Fprintf(&ldat, "\t%.4f", r.metric(q, b, func(x *loadgen.Result) float64 {
					if x.Latency == nil {
						return 0
					}
					return pc.f(x.Latency)
				}).med)
			}
		}
		fmt.Fprintln(&ldat)
	}
	tfile, lfile := filepath.Join(dir, "throughput.dat"), filepath.Join(dir, "latency.dat")
	if err := os.WriteFile(tfile, tdat.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(lfile, ldat.Bytes(), 0o644); err != nil {
		return err
	}
	n := len(brokers)
	script := fmt.Sprintf(`set terminal pngcairo size 1000,520 noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key top right
set grid ytics
set logscale y
set xtics nomirror
set output %q
set title "Delivered messages per second (64-byte payloads, log scale)"
plot for [i=2:%d] %q using i:xtic(1) title columnheader(i)
set output %q
set title "End-to-end latency at 10,000 msg/s (ms, log scale)"
set key top left
plot for [i=2:%d] %q using i:xtic(1) title columnheader(i)
`, filepath.Join(dir, "throughput.png"), n+1, tfile, filepath.Join(dir, "latency.png"), 2*n+1, lfile)
	cmd := exec.Command("gnuplot")
	cmd.Stdin = strings.NewReader(script)
	cmd.Stderr = os.Stderr
	return cmd.Run()
}
