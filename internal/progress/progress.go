package main

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// progress prints one line when an image starts and one when it ends, and, for pulls that
// take a while, the bytes pulled so far at most once per interval. remote.WithProgress only
// reports pushes, so pulled bytes are counted by wrapping the layers (countingImage).
type progress struct {
	out      io.Writer
	total    int
	interval time.Duration

	mu     sync.Mutex
	active map[int]*job
	stop   chan struct{}
	done   chan struct{}
	pulled atomic.Int64
}

// job is one image being pulled.
type job struct {
	n      int
	ref    string
	start  time.Time
	bytes  atomic.Int64
	shown  int64
	global *atomic.Int64
}

func (j *job) add(n int64) {
	j.bytes.Add(n)
	j.global.Add(n)
}

func newProgress(out io.Writer, total int, interval time.Duration) *progress {
	p := &progress{out: out, total: total, interval: interval, active: map[int]*job{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// start announces image n (1-based).
func (p *progress) start(n int, ref string) *job {
	j := &job{n: n, ref: ref, start: time.Now(), global: &p.pulled}
	p.mu.Lock()
	p.active[n] = j
	fmt.Fprintf(p.out, "[%d/%d] %s ...\n", n, p.total, ref)
	p.mu.Unlock()
	return j
}

// end reports image n done: its size in the bundle, or the error.
func (p *progress) end(j *job, size int64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.active, j.n)
	took := humanDuration(time.Since(j.start))
	if err != nil {
		// err names the image.
		fmt.Fprintf(p.out, "[%d/%d] FAILED after %s: %v\n", j.n, p.total, took, err)
		return
	}
	fmt.Fprintf(p.out, "[%d/%d] %s ... %s in %s\n", j.n, p.total, j.ref, humanBytes(size), took)
}

func (p *progress) run() {
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
func (p *progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ns []int
	for n := range p.active {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	for _, n := range ns {
		j := p.active[n]
		b, el := j.bytes.Load(), time.Since(j.start)
		if b == j.shown || el < p.interval {
			continue
		}
		j.shown = b
		fmt.Fprintf(p.out, "[%d/%d] %s ... %s pulled (%s/s)\n", n, p.total, j.ref, humanBytes(b),
			humanBytes(int64(float64(b)/el.Seconds())))
	}
}

func (p *progress) close() {
	close(p.stop)
	<-p.done
}

// humanDuration formats like "3.1s", or "2m5s" past a minute.
func humanDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// humanBytes formats a byte count in decimal units, as registries and docker report sizes.
func humanBytes(n int64) string {
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

// countingImage counts the compressed layer bytes read through it. Manifests and configs
// pass through untouched, so digests are those of the original.
type countingImage struct {
	v1.Image
	j *job
}

func (c countingImage) Layers() ([]v1.Layer, error) {
	ls, err := c.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = countingLayer{l, c.j}
	}
	return out, nil
}

func (c countingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := c.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return countingLayer{l, c.j}, nil
}

// countingIndex hands out counting children. (It cannot embed v1.ImageIndex: the field
// would clash with the ImageIndex method.)
type countingIndex struct {
	idx v1.ImageIndex
	j   *job
}

func (c countingIndex) MediaType() (types.MediaType, error)       { return c.idx.MediaType() }
func (c countingIndex) Digest() (v1.Hash, error)                  { return c.idx.Digest() }
func (c countingIndex) Size() (int64, error)                      { return c.idx.Size() }
func (c countingIndex) IndexManifest() (*v1.IndexManifest, error) { return c.idx.IndexManifest() }
func (c countingIndex) RawManifest() ([]byte, error)              { return c.idx.RawManifest() }

func (c countingIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := c.idx.Image(h)
	if err != nil {
		return nil, err
	}
	return countingImage{img, c.j}, nil
}

func (c countingIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	idx, err := c.idx.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return countingIndex{idx, c.j}, nil
}

type countingLayer struct {
	v1.Layer
	j *job
}

func (c countingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := c.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &countingReader{rc, c.j}, nil
}

type countingReader struct {
	io.ReadCloser
	j *job
}

func (r *countingReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.j.add(int64(n))
	return n, err
}
