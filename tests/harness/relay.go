package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// A relay joins two network namespaces for one TCP service: it listens in one and dials in the
// other. The local site uses relays instead of addresses in the host's namespace, so the API
// server and S3 keep listening on loopback only and the site network lives entirely in the
// namespaces the harness created.
type relayRule struct {
	ListenNS, Listen, DialNS, Dial string
}

func (r relayRule) String() string {
	return strings.Join([]string{r.ListenNS, r.Listen, r.DialNS, r.Dial}, "|")
}

func parseRelayRule(s string) (relayRule, error) {
	p := strings.Split(s, "|")
	if len(p) != 4 || p[1] == "" || p[3] == "" {
		return relayRule{}, fmt.Errorf("relay rule %q: want listenNS|listenAddr|dialNS|dialAddr", s)
	}
	return relayRule{p[0], p[1], p[2], p[3]}, nil
}

// relayEnv marks a process started to run relays: the harness re-executes the program that
// embeds it (the e2e test binary or localsite) with this variable and the rules as arguments.
const relayEnv = "AIRGAP_HARNESS_RELAY"

// RunRelayIfAsked runs the relays and exits when this process was started as a relay; it
// returns at once otherwise. Call it first thing in main (or TestMain) of any program that
// starts a local site with a real node.
func RunRelayIfAsked() {
	if os.Getenv(relayEnv) != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serveRelays(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serveRelays(ctx context.Context, rules []string) error {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	var wg sync.WaitGroup
	for _, s := range rules {
		r, err := parseRelayRule(s)
		if err != nil {
			return err
		}
		l, err := ListenIn(r.ListenNS, r.Listen)
		if err != nil {
			return fmt.Errorf("listening on %s in %q: %w", r.Listen, r.ListenNS, err)
		}
		listeners = append(listeners, l)
		fmt.Fprintf(os.Stderr, "relay %s (%s) -> %s (%s)\n", r.Listen, nsLabel(r.ListenNS), r.Dial, nsLabel(r.DialNS))
		wg.Add(1)
		go func() {
			defer wg.Done()
			accept(ctx, l, r)
		}()
	}
	<-ctx.Done()
	for _, l := range listeners {
		l.Close()
	}
	wg.Wait()
	return nil
}

func nsLabel(ns string) string {
	if ns == "" {
		return "host"
	}
	return ns
}

func accept(ctx context.Context, l net.Listener, r relayRule) {
	for {
		in, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go func() {
			defer in.Close()
			out, err := DialIn(ctx, r.DialNS, r.Dial)
			if err != nil {
				return // the client sees a closed connection, as with a refused one
			}
			defer out.Close()
			pipe(in, out)
		}()
	}
}

// pipe copies both ways until both directions are done, passing half-closes on.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if c, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = c.CloseWrite()
		}
	}
	wg.Add(2)
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
}
