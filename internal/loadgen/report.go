package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
)

// WriteText writes the result as a human-readable summary.
func (r *Result) WriteText(w io.Writer) {
	rate := "flat-out"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%g msg/s per publisher", r.Rate)
	}
	persistent := ""
	if r.PersistentSubscribers {
		persistent = " (persistent)"
	}
	fmt.Fprintf(w, "publishers %d  subscribers %d%s  QoS %d  payload %d B  %s  %.1f s\n",
		r.Publishers, r.Subscribers, persistent, r.QoS, r.Size, rate, r.Seconds)
	if r.Publishers > 0 {
		fmt.Fprintf(w, "sent        %d (%.0f msg/s)", r.Sent, r.SentRate)
		if r.QoS > 0 {
			fmt.Fprintf(w, ", %d acknowledged", r.Acked)
		}
		fmt.Fprintln(w)
	}
	if r.Subscribers > 0 {
		fmt.Fprintf(w, "delivered   %d (%.0f msg/s) of %d expected\n", r.Delivered, r.DeliveredRate, r.Expected)
		fmt.Fprintf(w, "lost        %d (%.3f %%)  duplicates %d", r.Lost, r.LossPercent, r.Duplicates)
		if r.Foreign > 0 {
			fmt.Fprintf(w, "  from other runs %d", r.Foreign)
		}
		fmt.Fprintln(w)
		writeLatency(w, "latency", r.Latency)
	}
	writeConnect(w, &r.Connect)
	writeProc(w, "broker", r.Broker)
	if st := r.Store; st != nil {
		fmt.Fprintf(w, "store       %d commits, %d fsyncs in %.1f s: %.0f fsyncs/s, %.1f commits per fsync\n",
			st.Commits, st.Fsyncs, st.Seconds, st.FsyncsPerSecond, st.CommitsPerFsync)
	}
	writeProc(w, "generator", r.Generator)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error       %s\n", e)
	}
}

// WriteText writes the result as a human-readable summary.
func (r *ConnResult) WriteText(w io.Writer) {
	writeConnect(w, &r.Connect)
	writeLatency(w, "handshake", r.Connect.Latency)
	fmt.Fprintf(w, "dropped     %d while held\n", r.Dropped)
	writeProc(w, "broker", r.Broker)
	if r.BytesPerConn != 0 {
		fmt.Fprintf(w, "broker      %.0f bytes of RSS per connection\n", r.BytesPerConn)
	}
}

func writeLatency(w io.Writer, what string, l *LatencyStats) {
	if l == nil {
		return
	}
	fmt.Fprintf(w, "%-11s ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (mean %.3f, %d samples)\n",
		what, l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean, l.Count)
}

func writeConnect(w io.Writer, c *ConnectStats) {
	fmt.Fprintf(w, "connect     %d of %d connected in %.2f s (%.0f/s), %d failed\n",
		c.Connected, c.Attempted, c.Seconds, c.Rate, c.Failed)
	for _, e := range slices.Sorted(maps.Keys(c.Errors)) {
		fmt.Fprintf(w, "  %d × %s\n", c.Errors[e], e)
	}
}

func writeProc(w io.Writer, what string, p *ProcStats) {
	if p == nil {
		return
	}
	fmt.Fprintf(w, "%-11s CPU %.2f s (%.0f %% of a core)  RSS %.1f → %.1f MiB\n", what,
		p.CPUSeconds, p.CPUPercent, float64(p.RSSBeforeBytes)/(1<<20), float64(p.RSSAfterBytes)/(1<<20))
}
