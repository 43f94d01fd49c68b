// Command baseline serves the bench's reference Pusher server (package bench/baseline) as its
// own process, so that the bench can measure its CPU time and memory like any other target.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/herald-io/herald/bench/baseline"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6201", "address of the WebSocket endpoint and HTTP API")
	flag.Parse()
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
	fmt.Printf("baseline listening on %s pid %d\n", l.Addr(), os.Getpid())
	s := baseline.New()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	select {
	case err = <-served:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = s.Shutdown(sctx)
		cancel()
		err = s.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}
