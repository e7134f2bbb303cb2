package siteregistry

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"airgap-site/provider/internal/registrytest"
)

func TestTransportFailsASilentEndpoint(t *testing.T) {
	addr := registrytest.Hung(t) // like a registry whose storage hangs
	client := &http.Client{Transport: Transport(nil, 300*time.Millisecond)}
	start := time.Now()
	_, err := client.Get("http://" + addr + "/v2/")
	var stall *StallError
	if !errors.As(err, &stall) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want a stall naming %s", err, addr)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s with a 300ms progress timeout", d)
	}
	if !Retryable(err) {
		t.Errorf("a stall is not retryable")
	}
}

func TestTransportFailsAStalledBody(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first bytes"))
		w.(http.Flusher).Flush()
		<-release
	}))
	defer func() { close(release); srv.Close() }()
	client := &http.Client{Transport: Transport(nil, 300*time.Millisecond)}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	var stall *StallError
	if !errors.As(err, &stall) {
		t.Fatalf("reading a stalled body: %v", err)
	}
}

func TestTransportFailsAnUnreadUpload(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // never reads the body: the client's writes block once the buffers are full
	}))
	defer func() { close(release); srv.Close() }()
	client := &http.Client{Transport: Transport(nil, 300*time.Millisecond)}
	body := io.LimitReader(zeros{}, 1<<30)
	start := time.Now()
	_, err := client.Post(srv.URL, "application/octet-stream", body)
	var stall *StallError
	if !errors.As(err, &stall) {
		t.Fatalf("err = %v, want a stall", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

// A slow body that keeps moving is not a stall: the bound is on progress, not total time.
func TestTransportAllowsSlowProgress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 8 {
			w.Write([]byte("chunk"))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	}))
	defer srv.Close()
	client := &http.Client{Transport: Transport(nil, 300*time.Millisecond)}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) != 40 {
		t.Errorf("read %d bytes: %v", len(b), err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
