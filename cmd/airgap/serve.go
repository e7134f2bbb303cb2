package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"airgap-site/bundle"
	"airgap-site/bundle/serve"
	"airgap-site/signing"
)

// serveOptions are the flags of airgap serve.
type serveOptions struct {
	dir, addr, tlsDir string
	trustedKeys       []string
	allowUnsigned     bool
	plainHTTP         bool
}

func newServeCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve --bundle DIR --addr IP:PORT --trusted-key cosign.pub [--tls-dir DIR]",
		Short: "Serve a verified bundle read-only over TLS as a registry (at the site, for bootstrap)",
		Long: `Serve the bundle at DIR read-only (GET and HEAD) as an OCI distribution registry, under
the Talos mirror scheme: /v2/docker.io/library/nginx/manifests/1.27 is docker.io/library/nginx:1.27.

Before it listens, the bundle is verified as the stack verifies it: bundle.json signed by a
--trusted-key (the cosign.pub of images.trustedKeys), then every manifest and blob. A bundle
that fails is not served.

It serves https with a certificate from a bootstrap CA kept in --tls-dir (generated on first
use, reused after; the serving certificate is issued again for a new address). Point the
stack at it: bootstrap.endpoint https://<IP>:<PORT> and bootstrap.ca the CA path it prints; the
bootstrap patch carries that CA to the nodes.

--addr is the laptop's address on the site network, exactly: it listens there only (never on
every address). Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, o, cmd.ErrOrStderr(), nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "bundle", "", "bundle directory (written by airgap bundle)")
	f.StringVar(&o.addr, "addr", "", "the address to listen on, IP:PORT: this machine's address on the site network, e.g. 10.20.0.100:5000")
	f.StringArrayVar(&o.trustedKeys, "trusted-key", nil, "public key file (cosign.pub) the bundle must be signed by; repeatable")
	f.BoolVar(&o.allowUnsigned, "allow-unsigned", false, "serve a bundle no trusted key signed (not recommended: whoever changed it decides what the nodes run)")
	f.StringVar(&o.tlsDir, "tls-dir", defaultTLSDir(), "directory keeping the bootstrap CA and the serving certificate (owner-only)")
	f.BoolVar(&o.plainHTTP, "plain-http", false, "serve plain http, without TLS (only for a site with registry.plainHTTP)")
	_ = cmd.MarkFlagRequired("bundle")
	_ = cmd.MarkFlagRequired("addr")
	return cmd
}

// defaultTLSDir is the bootstrap TLS directory under the user's config directory.
func defaultTLSDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "airgap-site", "bootstrap-tls")
}

// listenIP checks that addr names one address to listen on: an IP and a port. An unspecified
// address (0.0.0.0, ::, or none) would serve every network the laptop is on.
func listenIP(addr string) (netip.Addr, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--addr %q: %w; give this laptop's address on the site network and a port, e.g. --addr 10.20.0.100:5000", addr, err)
	}
	if port == "" {
		return netip.Addr{}, fmt.Errorf("--addr %q: no port; e.g. --addr 10.20.0.100:5000", addr)
	}
	ip, err := netip.ParseAddr(host)
	if host == "" || err == nil && ip.Unmap().IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("--addr %q listens on every address of this machine; give this laptop's address on the site network (the one the nodes reach it at), e.g. --addr 10.20.0.100:5000", addr)
	}
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("--addr %q: %q is not an IP address; give this laptop's address on the site network, e.g. --addr 10.20.0.100:5000", addr, host)
	}
	return ip.Unmap(), nil
}

// serveTrust reads the --trusted-key files.
func serveTrust(o serveOptions) (bundle.Trust, error) {
	trust := bundle.Trust{AllowUnsigned: o.allowUnsigned}
	if len(o.trustedKeys) == 0 && !o.allowUnsigned {
		return trust, errors.New("--trusted-key is required: the public key (cosign.pub) the bundle was signed with at the office, as in images.trustedKeys (or, not recommended, --allow-unsigned)")
	}
	for _, path := range o.trustedKeys {
		b, err := os.ReadFile(path)
		if err != nil {
			return trust, fmt.Errorf("--trusted-key %s: %w", path, err)
		}
		k, err := signing.ParseKey(b)
		if err != nil {
			return trust, fmt.Errorf("--trusted-key %s: %w", path, err)
		}
		trust.Keys = append(trust.Keys, k)
	}
	return trust, nil
}

// runServe verifies the bundle, then serves it until ctx is done, then shuts down gracefully:
// requests in flight (a node halfway through a layer) get a while to finish. ready, if set, is
// told the address once listening.
func runServe(ctx context.Context, o serveOptions, stderr io.Writer, ready func(net.Addr)) error {
	logger := log.New(stderr, "", log.LstdFlags)
	ip, err := listenIP(o.addr)
	if err != nil {
		return err
	}
	trust, err := serveTrust(o)
	if err != nil {
		return err
	}
	if o.allowUnsigned {
		logger.Printf("WARNING: --allow-unsigned: a bundle no trusted key signed is served; whoever changed it on its way here decides what the nodes run")
	}
	b, key, err := serve.Verify(o.dir, trust)
	if err != nil {
		return err
	}
	if key.ID != "" {
		logger.Printf("bundle %s verified: signed by key %s, every manifest and blob checked", o.dir, key.ID)
	} else {
		logger.Printf("bundle %s is not signed (--allow-unsigned); every manifest and blob checked against its index", o.dir)
	}
	if n := len(b.Assumes()); n > 0 {
		logger.Printf("WARNING: bundle %s is a delta bundle (airgap bundle --against): it does not carry %d layers it assumes the site registry holds, so a node pulling them here gets 404; bootstrap a new site from a full bundle", o.dir, n)
	}

	scheme := "https"
	var tlsConfig *tls.Config
	if o.plainHTTP {
		scheme = "http"
		logger.Printf("WARNING: --plain-http: anyone on the site network can answer in this laptop's place; use it only for a site with registry.plainHTTP")
	} else {
		if o.tlsDir == "" {
			return errors.New("--tls-dir is required: the directory keeping the bootstrap CA")
		}
		m, err := serve.BootstrapTLS(o.tlsDir, ip, time.Now())
		if err != nil {
			return err
		}
		tlsConfig = m.Config
		if m.CreatedCA {
			logger.Printf("generated a bootstrap CA in %s", o.tlsDir)
		}
		logger.Printf("bootstrap CA: %s; set it in the stack: pulumi config set --path bootstrap.ca %s", m.CAPath, m.CAPath)
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.addr, err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	srv := &http.Server{
		Handler:           serve.New(b, serve.Logger(logger)),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          logger,
	}
	logger.Printf("serving %d images from %s read-only on %s://%s; set the stack's bootstrap.endpoint to %s://%s",
		len(b.Entries()), o.dir, scheme, ln.Addr(), scheme, ln.Addr())
	if ip.IsLoopback() {
		logger.Printf("only this machine can reach %s; the site's nodes need this laptop's address on their network", ln.Addr())
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
