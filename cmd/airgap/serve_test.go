package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airgap-site/internal/bundletest"
)

func TestRunServeShutsDown(t *testing.T) {
	dir := bundletest.New(t).Dir
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	var logs syncBuffer
	go func() { errc <- runServe(ctx, dir, "127.0.0.1:0", &logs, func(a net.Addr) { addrc <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	resp, _ := bundletest.Do(t, "GET", "http://"+addr.String()+"/v2/")
	if resp.StatusCode != 200 {
		t.Errorf("GET /v2/ = %d", resp.StatusCode)
	}
	cancel() // as SIGINT does
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("runServe: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not shut down")
	}
	if out := logs.String(); !strings.Contains(out, "serving 3 images") || !strings.Contains(out, "GET /v2/ 200") {
		t.Errorf("log:\n%s", out)
	}

	if err := runServe(context.Background(), t.TempDir(), "127.0.0.1:0", io.Discard, nil); err == nil {
		t.Error("runServe of a directory that is not a bundle succeeded")
	}
}

// A bundle whose index cannot be read is refused before anything listens.
func TestRunServeChecksBundle(t *testing.T) {
	dir := bundletest.New(t).Dir
	d, err := bundletest.Open(t, dir).Lookup("ghcr.io/org/app:2")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "blobs", "sha256", d.Digest.Hex)); err != nil {
		t.Fatal(err)
	}
	err = runServe(context.Background(), dir, "127.0.0.1:0", io.Discard, func(net.Addr) { t.Error("listening") })
	if err == nil || !strings.Contains(err.Error(), "checking bundle") {
		t.Errorf("runServe = %v, want a failed check", err)
	}
}
