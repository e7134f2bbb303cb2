// Command app is the "factory app" of the local site's real node (docker.io/factory/app:1 in
// the test bundle): a tiny HTTP server whose answer names the pod it runs in, so a test can
// tell which replica served it. Build it static (CGO_ENABLED=0): the image holds nothing else.
//
//	GET /         200 "factory app on <hostname>"
//	GET /healthz  200 "ok"
//
// It listens on :8080 (or -addr) and exits 0 on SIGTERM or SIGINT, after in-flight requests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	flag.Parse()
	host, err := os.Hostname()
	if err != nil {
		log.Fatalf("reading hostname: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, *addr, handler(host)); err != nil {
		log.Fatal(err)
	}
}

// handler answers / with the app's name and host, and /healthz for the kubelet's probes.
func handler(host string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "factory app on %s\n", host)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// serve runs h on addr until ctx ends, then shuts down gracefully: a pod being stopped
// finishes the requests it has.
func serve(ctx context.Context, addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("factory app listening on %s", addr)
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}
