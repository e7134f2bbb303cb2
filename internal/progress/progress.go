package progress

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Printer prints one line when an image starts and one when it ends, and, for pulls that
// take a while, the bytes pulled so far at most once per interval.
type Printer struct {
	out      io.Writer
	total    int
	interval time.Duration

	mu     sync.Mutex
	active map[int]*Job
	stop   chan struct{}
	done   chan struct{}
	pulled atomic.Int64
}

// Job is one image being pulled.
type Job struct {
	n      int
	ref    string
	start  time.Time
	bytes  atomic.Int64
	shown  int64
	global *atomic.Int64
}

// Add counts n more bytes pulled for the image.
func (j *Job) Add(n int64) {
	j.bytes.Add(n)
	j.global.Add(n)
}

// New starts printing to out the progress of total images, byte counts at most once per
// interval. Close stops it.
func New(out io.Writer, total int, interval time.Duration) *Printer {
	p := &Printer{out: out, total: total, interval: interval, active: map[int]*Job{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// Start announces image n (1-based) and returns its job, which counts its bytes.
func (p *Printer) Start(n int, ref string) *Job {
	j := &Job{n: n, ref: ref, start: time.Now(), global: &p.pulled}
	p.mu.Lock()
	p.active[n] = j
	fmt.Fprintf(p.out, "[%d/%d] %s ...\n", n, p.total, ref)
	p.mu.Unlock()
	return j
}

// End reports the image of j done: its size in the bundle, or the error (which names it).
func (p *Printer) End(j *Job, size int64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.active, j.n)
	took := Duration(time.Since(j.start))
	if err != nil {
		// err names the image.
		fmt.Fprintf(p.out, "[%d/%d] FAILED after %s: %v\n", j.n, p.total, took, err)
		return
	}
	fmt.Fprintf(p.out, "[%d/%d] %s ... %s in %s\n", j.n, p.total, j.ref, Bytes(size), took)
}

func (p *Printer) run() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.tick()
		}
	}
}

// tick prints the images pulling for an interval or more whose byte count moved since the
// last report.
func (p *Printer) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range slices.Sorted(maps.Keys(p.active)) {
		j := p.active[n]
		b, el := j.bytes.Load(), time.Since(j.start)
		if b == j.shown || el < p.interval {
			continue
		}
		j.shown = b
		fmt.Fprintf(p.out, "[%d/%d] %s ... %s pulled (%s/s)\n", n, p.total, j.ref, Bytes(b),
			Bytes(int64(float64(b)/el.Seconds())))
	}
}

// Close stops the byte-count lines.
func (p *Printer) Close() {
	close(p.stop)
	<-p.done
}

// Pulled is the bytes pulled so far, all images together.
func (p *Printer) Pulled() int64 { return p.pulled.Load() }

// Duration formats like "3.1s", or "2m5s" past a minute.
func Duration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// Bytes formats a byte count in decimal units, as registries and docker report sizes.
func Bytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
