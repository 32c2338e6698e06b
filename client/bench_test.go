package client_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// BenchmarkPublish measures publications through the Tern broker to a
// subscriber, with 16 concurrent publishing goroutines on one client.
func BenchmarkPublish(b *testing.B) {
	for _, q := range []packet.QoS{0, 1, 2} {
		b.Run("qos"+string(rune('0'+q)), func(b *testing.B) {
			url := ternBroker(b, broker.Config{MaxQueued: 1 << 20})
			ctx := context.Background()
			var got sync.WaitGroup
			got.Add(b.N)
			sub := dialConn(b, url, client.Options{HandlerQueue: 1 << 16})
			if _, err := sub.Subscribe(ctx, client.Subscription{Filter: "bench", QoS: q, Handler: func(*client.Message) { got.Done() }}); err != nil {
				b.Fatal(err)
			}
			pub := dialConn(b, url, client.Options{SendWindow: 1024, MaxQueued: 1 << 20})
			payload := make([]byte, 64)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / 16
			for w := range 16 {
				n := per
				if w == 0 {
					n += b.N % 16
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range n {
						if err := pub.Publish(ctx, client.Message{Topic: "bench", QoS: q, Payload: payload}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if q > 0 {
				got.Wait() // QoS 0 may be dropped by a full queue
			}
		})
	}
}
