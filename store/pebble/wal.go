package pebble

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/record"
)

// logScan is what checkLogs found in one write-ahead log before the engine
// replays it.
type logScan struct {
	path    string
	size    int64
	records int   // complete records before the end of replay
	stop    int64 // offset where replay stops
	clean   bool  // the log ends cleanly at stop (end of file, zeroes, or a recycled file's old data)
	later   int64 // offset of a valid chunk of this log after stop, -1 if none
}

// newRecordReader builds a record reader for log number num (the reader's
// parameter type is internal to the engine).
func newRecordReader[N ~uint64](mk func(io.Reader, N) *record.Reader, r io.Reader, num uint64) *record.Reader {
	return mk(r, N(num))
}

// checkLogs reads every write-ahead log of dir the way the engine's replay
// will and tells, for each, whether it ends cleanly, with a torn tail (a
// write cut by a crash: replay drops it, and in Sync mode it was never
// acknowledged), or with damage followed by complete records (corruption:
// replay would silently drop acknowledged writes). It logs the first two
// and returns an error for the third unless salvage is set, in which case
// it keeps a copy of the damaged log in dir/damaged and logs an error.
func checkLogs(dir string, salvage bool, log *slog.Logger) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || e.IsDir() {
			continue
		}
		num, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		sc, err := scanLog(filepath.Join(dir, e.Name()), num)
		if err != nil {
			return fmt.Errorf("read log %s: %w", e.Name(), err)
		}
		switch {
		case sc.clean:
			log.Debug("store: log ends cleanly", "file", sc.path, "records", sc.records, "size", sc.size)
		case sc.later < 0:
			log.Warn("store: log has a torn tail, dropped at replay (a write cut by the crash; in sync mode it was never acknowledged)",
				"file", sc.path, "records", sc.records, "replayed_to", sc.stop, "size", sc.size, "discarded_bytes", sc.size-sc.stop)
		case !salvage:
			return fmt.Errorf("log %s is damaged at offset %d and holds complete records after it (from offset %d, %d bytes in all): "+
				"replay would lose acknowledged writes; keep a copy of the directory, then open with salvage to keep the %d records before the damage",
				sc.path, sc.stop, sc.later, sc.size-sc.stop, sc.records)
		default:
			dst := filepath.Join(dir, "damaged")
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			b, err := os.ReadFile(sc.path)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
				return err
			}
			log.Error("store: log damaged; salvaging the records before the damage, acknowledged writes after it are lost",
				"file", sc.path, "records", sc.records, "damaged_at", sc.stop, "records_after_from", sc.later,
				"lost_bytes", sc.size-sc.stop, "copy", filepath.Join(dst, e.Name()))
		}
	}
	return nil
}

func scanLog(path string, num uint64) (logScan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return logScan{}, err
	}
	sc := logScan{path: path, size: int64(len(b)), later: -1}
	rr := newRecordReader(record.NewReader, bytes.NewReader(b), num)
	for {
		sc.stop = rr.Offset()
		r, err := rr.Next()
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		if errors.Is(err, io.EOF) {
			sc.clean = true
			return sc, nil
		}
		if err != nil {
			break
		}
		sc.records++
	}
	sc.later = findChunk(b, sc.stop+1, uint32(num))
	return sc, nil
}

// Chunk header of the engine's log format: checksum (4), length (2),
// encoding (1), log number (4) and, for the WAL-sync encodings, the synced
// offset (8). The checksum covers the header from the encoding byte on and
// the payload.
const (
	recyclableHeader = 11
	walSyncHeader    = 19
	blockSize        = 32 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// findChunk returns the offset of the first valid chunk of log num at or
// after from, or -1.
func findChunk(b []byte, from int64, num uint32) int64 {
	for p := int(from); p+recyclableHeader <= len(b); p++ {
		enc := b[p+6]
		var hs int
		switch {
		case enc >= 5 && enc <= 8:
			hs = recyclableHeader
		case enc >= 9 && enc <= 12:
			hs = walSyncHeader
		default:
			continue
		}
		n := int(binary.LittleEndian.Uint16(b[p+4:]))
		end := p + hs + n
		if end > len(b) || p/blockSize != (end-1)/blockSize || binary.LittleEndian.Uint32(b[p+7:]) != num {
			continue
		}
		c := crc32.Checksum(b[p+6:end], castagnoli)
		if (c>>15|c<<17)+0xa282ead8 == binary.LittleEndian.Uint32(b[p:]) {
			return int64(p)
		}
	}
	return -1
}
