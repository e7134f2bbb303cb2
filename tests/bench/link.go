package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"airgap-site/tests/toxiproxy"
)

// link is the factory's link of -link: one toxiproxy-server for the run, a proxy of its own for
// each trial, with the same toxics.
type link struct {
	on        bool
	rateKB    int
	latencyMS int
	cuts      int
	down      time.Duration
	timeout   time.Duration

	server *toxiproxy.Server
	n      int
}

// start runs toxiproxy-server; stop ends it, on every way out of run.
func (l *link) start(logPath, bin string) {
	s, err := toxiproxy.Start(bin, logPath, cleanEnv())
	check(err)
	l.server = s
}

func (l *link) stop() {
	if l.server != nil {
		l.server.Stop()
	}
}

// open puts a new proxy with the link's toxics in front of upstream and returns its address;
// closeProxy deletes it.
func (l *link) open(upstream string) (addr string, closeProxy func(), err error) {
	l.n++
	name := fmt.Sprintf("link%d", l.n)
	addr, err = l.server.Proxy(name, upstream)
	if err != nil {
		return "", nil, err
	}
	closeProxy = func() { _ = l.server.Delete("/proxies/" + name) }
	toxics := []map[string]any{
		{"name": "bandwidth", "type": "bandwidth", "stream": "upstream", "toxicity": 1, "attributes": map[string]any{"rate": l.rateKB}},
		{"name": "latency-up", "type": "latency", "stream": "upstream", "toxicity": 1, "attributes": map[string]any{"latency": l.latencyMS}},
		{"name": "latency-down", "type": "latency", "stream": "downstream", "toxicity": 1, "attributes": map[string]any{"latency": l.latencyMS}},
	}
	for _, t := range toxics {
		if err := l.server.Toxic(name, t); err != nil {
			closeProxy()
			return "", nil, err
		}
	}
	return addr, closeProxy, nil
}

// cutAsBytesArrive switches the current proxy off for l.down each time the bytes that arrived
// (sent) pass another 1/(cuts+1) of the update's size, until ctx ends; it sends the number of
// cuts made when it is done. The cuts fall where the bytes are, in the middle of blobs, and
// the same for every tool: a tool that sends more reaches them sooner.
func (l *link) cutAsBytesArrive(ctx context.Context, sent *atomic.Int64, update int64) <-chan int {
	done := make(chan int, 1)
	name := fmt.Sprintf("link%d", l.n)
	go func() {
		made := 0
		defer func() { done <- made }()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for made < l.cuts {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if sent.Load() < int64(made+1)*update/int64(l.cuts+1) {
				continue
			}
			if err := l.server.SetEnabled(name, false); err != nil {
				logf("cutting the link: %v", err)
				return
			}
			made++
			time.Sleep(l.down)
			if err := l.server.SetEnabled(name, true); err != nil {
				logf("restoring the link: %v", err)
				return
			}
		}
	}()
	return done
}

// table prints the link trials: per tool the median over its trials, and how many finished.
func (l *link) table(tools []tool, results map[string][]trial, images int, unique int64, baseMB, layerMB, trials int) {
	fmt.Printf("\n| tool | finished | median time | MB on the wire | wire / update | cuts | CLI reruns |\n|---|---|---|---|---|---|---|\n")
	for _, tl := range tools {
		rs := results[tl.name]
		if len(rs) == 0 {
			continue
		}
		var ok []trial
		for _, r := range rs {
			if r.err == nil {
				ok = append(ok, r)
			}
		}
		finished := fmt.Sprintf("%d of %d", len(ok), len(rs))
		if len(ok) == 0 {
			m := median(rs)
			fmt.Printf("| %s | %s | none in %s | %.1f (in %s) | %.2fx | %d | %d |\n", tl.name, finished, l.timeout,
				float64(m.sent)/1e6, l.timeout, float64(m.sent)/float64(unique), m.cuts, m.reruns)
			continue
		}
		m := median(ok)
		fmt.Printf("| %s | %s | %.1f s | %.1f | %.2fx | %d | %d |\n", tl.name, finished, m.seconds,
			float64(m.sent)/1e6, float64(m.sent)/float64(unique), m.cuts, m.reruns)
	}
	fmt.Printf("\nbundle: %d images, %.0f MB unique blobs (base %d MB shared by all, 2 x %d MB unique per image); %d trials per tool\n",
		images, float64(unique)/1e6, baseMB, layerMB, trials)
	fmt.Printf("link: %d KB/s, %d ms each way, cut %d times for %s as the update's bytes arrive; each copy bounded by %s\n",
		l.rateKB, l.latencyMS, l.cuts, l.down, l.timeout)
}
