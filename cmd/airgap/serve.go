package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"airgap-site/bundle"
)

func newServeCmd() *cobra.Command {
	var dir, addr string
	cmd := &cobra.Command{
		Use:   "serve --bundle DIR [--addr 127.0.0.1:5000]",
		Short: "Serve a bundle read-only as a registry (at the site, for bootstrap)",
		Long: `Serve the bundle at DIR read-only as an OCI distribution registry, under the Talos
mirror scheme: /v2/docker.io/library/nginx/manifests/1.27 is docker.io/library/nginx:1.27.
Point the stack's bootstrap.endpoint at it (http://<this machine>:5000) and listen where the
nodes reach it, e.g. --addr 0.0.0.0:5000. Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, dir, addr, cmd.ErrOrStderr(), nil)
		},
	}
	cmd.Flags().StringVar(&dir, "bundle", "", "bundle directory (written by airgap bundle)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:5000", "listen address")
	_ = cmd.MarkFlagRequired("bundle")
	return cmd
}

// runServe serves the bundle until ctx is done, then shuts down gracefully: requests in
// flight (a node halfway through a layer) get a while to finish. ready, if set, is told the
// address once listening.
func runServe(ctx context.Context, dir, addr string, stderr io.Writer, ready func(net.Addr)) error {
	b, err := bundle.Open(dir)
	if err != nil {
		return err
	}
	if _, err := manifestTypes(dir); err != nil {
		return fmt.Errorf("checking bundle: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	logger := log.New(stderr, "", log.LstdFlags)
	srv := &http.Server{
		Handler:           logRequests(NewServer(b), logger),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          logger,
	}
	logger.Printf("serving %d images from %s read-only on http://%s", len(b.Entries()), dir, ln.Addr())
	if ip, ok := ln.Addr().(*net.TCPAddr); ok && ip.IP.IsLoopback() {
		logger.Printf("only this machine can reach %s; the site's nodes need e.g. --addr 0.0.0.0:5000", ln.Addr())
	}
	if ready != nil {
		ready(ln.Addr())
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Printf("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// logRequests logs one line per request: client, method, path, status, bytes, duration.
func logRequests(h http.Handler, l *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		l.Printf("%s %s %s %d %dB %s", r.RemoteAddr, r.Method, r.URL.Path, sw.status, sw.bytes,
			time.Since(start).Round(time.Millisecond))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}
