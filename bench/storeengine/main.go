// Command storeengine measures durable (fsynced) write throughput of the two
// candidate storage engines, bbolt and pebble, with 1, 10 and 100 concurrent
// writers each waiting for its write to be on disk. Run: cd bench/storeengine && go run .
// (STOREBENCH_DIR picks the file system; the default is the system temp dir).
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
)

func run(name string, writers int, dur time.Duration, put func(k []byte, v []byte) error) {
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(dur)
	val := make([]byte, 200)
	var ctr atomic.Uint64
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := make([]byte, 8)
			for time.Now().Before(stop) {
				binary.BigEndian.PutUint64(k, ctr.Add(1))
				if err := put(k, val); err != nil {
					panic(err)
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%-8s writers=%4d  %8.0f durable writes/s\n", name, writers, float64(n.Load())/dur.Seconds())
}

func main() {
	dir, err := os.MkdirTemp(os.Getenv("STOREBENCH_DIR"), "storebench")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := bolt.Open(dir+"/bolt.db", 0o600, nil)
	if err != nil {
		panic(err)
	}
	db.MaxBatchDelay = 2 * time.Millisecond
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("m")); return err })
	pdb, err := pebble.Open(dir+"/pebble", &pebble.Options{})
	if err != nil {
		panic(err)
	}
	for _, w := range []int{1, 10, 100} {
		run("bbolt", w, 3*time.Second, func(k, v []byte) error {
			return db.Batch(func(tx *bolt.Tx) error { return tx.Bucket([]byte("m")).Put(append([]byte(nil), k...), v) })
		})
		run("pebble", w, 3*time.Second, func(k, v []byte) error { return pdb.Set(k, v, pebble.Sync) })
	}
}
