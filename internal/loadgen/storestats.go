package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StoreStats are the write counters of the broker's durable store over a
// run (from publishing start to the end of the drain), read from its
// Prometheus page: commits (write batches) and fsyncs of its log.
type StoreStats struct {
	Commits         int64   `json:"commits"`
	Fsyncs          int64   `json:"fsyncs"`
	Seconds         float64 `json:"seconds"`
	FsyncsPerSecond float64 `json:"fsyncs_per_second"`
	CommitsPerFsync float64 `json:"commits_per_fsync"` // the average group-commit batch
}

// storeSample is one reading of the counters; ok is false when the page
// has none (a broker without a durable store).
type storeSample struct {
	commits, fsyncs int64
	at              time.Time
	ok              bool
}

// Names of the broker's store counters.
const (
	metricCommits = "tern_store_commits_total"
	metricFsyncs  = "tern_store_fsyncs_total"
)

// sampleStore reads the store counters from a Prometheus text page.
func sampleStore(ctx context.Context, url string) (storeSample, error) {
	s := storeSample{at: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return s, fmt.Errorf("broker metrics %q: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, fmt.Errorf("broker metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("broker metrics %s: %s", url, resp.Status)
	}
	var found int
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || (name != metricCommits && name != metricFsyncs) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return s, fmt.Errorf("broker metrics %s: %s: %w", url, name, err)
		}
		if name == metricCommits {
			s.commits = int64(v)
		} else {
			s.fsyncs = int64(v)
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("broker metrics %s: %w", url, err)
	}
	s.ok = found == 2
	return s, nil
}

// storeStats returns the counters between two samples, nil without them.
func storeStats(a, b storeSample) *StoreStats {
	if !a.ok || !b.ok {
		return nil
	}
	st := &StoreStats{Commits: b.commits - a.commits, Fsyncs: b.fsyncs - a.fsyncs, Seconds: b.at.Sub(a.at).Seconds()}
	if st.Seconds > 0 {
		st.FsyncsPerSecond = float64(st.Fsyncs) / st.Seconds
	}
	if st.Fsyncs > 0 {
		st.CommitsPerFsync = float64(st.Commits) / float64(st.Fsyncs)
	}
	return st
}
