package loadgen

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcStats is what a run measured of one process: CPU time used during
// the measured window and its resident memory before and after.
type ProcStats struct {
	PID            int     `json:"pid"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	CPUPercent     float64 `json:"cpu_percent"` // of one core
	RSSBeforeBytes int64   `json:"rss_before_bytes"`
	RSSAfterBytes  int64   `json:"rss_after_bytes"`
}

type procSample struct {
	at  time.Time
	cpu float64 // seconds
	rss int64   // bytes
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// sampleProc reads the CPU time and RSS of pid from /proc.
func sampleProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("reading CPU use of process %d: %w", pid, err)
	}
	// Fields after the command name (which may hold spaces) start at ')'.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 {
		return s, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64) // field 14, utime
	st, _ := strconv.ParseFloat(f[12], 64) // field 15, stime
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	s.cpu = (ut + st) / clockTicks
	s.rss = rss * int64(os.Getpagesize())
	return s, nil
}

func procStats(pid int, a, b procSample) *ProcStats {
	p := &ProcStats{PID: pid, CPUSeconds: b.cpu - a.cpu, RSSBeforeBytes: a.rss, RSSAfterBytes: b.rss}
	if d := b.at.Sub(a.at).Seconds(); d > 0 {
		p.CPUPercent = 100 * p.CPUSeconds / d
	}
	return p
}
