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
	"airgap-site/bundle/serve"
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
	// What an unreadable index lists would fail on a node, halfway through a pull.
	if _, err := b.Manifests(); err != nil {
		return fmt.Errorf("checking bundle: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	logger := log.New(stderr, "", log.LstdFlags)
	srv := &http.Server{
		Handler:           serve.New(b, serve.Logger(logger)),
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
