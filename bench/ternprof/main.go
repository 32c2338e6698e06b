// Command ternprof runs a Tern broker with the net/http/pprof endpoints, to
// profile it under load from tern bench:
//
//	go run ./bench/ternprof -listen 127.0.0.1:18830 -pprof 127.0.0.1:6060 &
//	tern bench run -p 18830 -d 30s &
//	go tool pprof -top 'http://127.0.0.1:6060/debug/pprof/profile?seconds=20'
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/tern-mq/tern/broker"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18830", "MQTT listener")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "pprof HTTP listener")
	flag.Parse()
	runtime.SetBlockProfileRate(10000)
	runtime.SetMutexProfileFraction(10)
	srv, err := broker.New(broker.Config{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	go func() { log.Fatal(http.ListenAndServe(*pprofAddr, nil)) }()
	go srv.Serve(ln)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Printf("stats: %+v", srv.Stats())
	srv.Shutdown(context.Background())
}
