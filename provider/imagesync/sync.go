package imagesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"airgap-site/provider/blobupload"
)

// Source is what to copy: exactly one of Image and Index.
type Source struct {
	Image v1.Image
	Index v1.ImageIndex
}

// taggable is the source's top-level manifest, to put under a tag.
func (s Source) taggable() remote.Taggable {
	if s.Index != nil {
		return s.Index
	}
	return s.Image
}

// Digest is the digest of the source's top-level manifest.
func (s Source) Digest() (v1.Hash, error) {
	if s.Index != nil {
		return s.Index.Digest()
	}
	if s.Image != nil {
		return s.Image.Digest()
	}
	return v1.Hash{}, errors.New("empty source")
}

// Options tune a copy.
type Options struct {
	// Jobs bounds parallel blob transfers; 0 means 4.
	Jobs int
	// MountFrom are other repositories of the target registry that may hold some blobs
	// already (the site's other images), by their name in that registry
	// (docker.io/library/nginx): those are mounted, not uploaded. A name that starts with the
	// target's host (the form of provider 0.1) is read without it.
	MountFrom []string
	// Remote are extra go-containerregistry options (auth, transport).
	Remote []remote.Option
	// Progress, when set, is called as bytes are sent (at most every Interval).
	Progress func(sent, total int64)
	// Interval between Progress calls; 0 means 2 s.
	Interval time.Duration
	// Known remembers blobs known to exist per repository across copies in one process.
	Known *Known
	// Upload, when set, sends every blob of at least blobupload.MinChunkSize with package
	// blobupload: in chunks, resumed after a cut from the offset the registry reports (and by
	// the next process, through Upload.Sessions), at the pace of Upload.Limiter. Smaller blobs
	// go in one request, at the same pace. Nil: one request per blob, no cap.
	Upload *blobupload.Options
	// Site names the target registry in Known; "" means the target's host. Copies through
	// different endpoints of one registry pass the same Site, so that what one copy learns
	// (a blob is there, an upload is under way) serves the others.
	Site string
}

// Result describes a copy.
type Result struct {
	Digest    v1.Hash
	MediaType types.MediaType
	Platforms []string
	// TotalBytes is the size of every unique blob and manifest of the image.
	TotalBytes int64
	// SentBytes is the size of what this copy sent: each blob whose content it sent in full
	// and each manifest it put, once, however many times the transport resent it. Blobs and
	// manifests already there, and mounted blobs, count nothing. Sent lists them, so that a
	// caller retrying the copy counts a blob sent by two tries once (Sent.Add).
	SentBytes int64
	Sent      Sizes
	// Contents are every blob and manifest of the image, with their sizes: what it holds in
	// the registry once copied (its inventory).
	Contents                                   Sizes
	BlobsUploaded, BlobsMounted, BlobsExisting int
}

// Sizes are blobs and manifests by digest, with their sizes.
type Sizes map[v1.Hash]int64

// Add adds what other sent.
func (s Sizes) Add(other Sizes) { maps.Copy(s, other) }

// Bytes is their total size.
func (s Sizes) Bytes() int64 {
	var n int64
	for _, size := range s {
		n += size
	}
	return n
}

// sentSet is Sizes under a lock, filled by parallel transfers.
type sentSet struct {
	mu sync.Mutex
	m  Sizes
}

func (s *sentSet) add(h v1.Hash, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[h] = size
}

// snapshot copies the set: net/http may still read a cancelled upload's body, and reach its
// end, after Copy returned.
func (s *sentSet) snapshot() Sizes {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m)
}

// Copy copies src to dst (a tag or digest reference in the target registry), at dst's host
// only: failing over to another endpoint is the caller's (siteregistry.Endpoints).
//
// The first failure stops the copy and cancels the transfers under way: the copy is retried
// as a whole, and the next try skips what is already stored. The tag is written last, so it
// never points at content that is not all there. On failure Copy still returns what was done
// (Sent, blob counts), so a caller that retries can count bytes once.
func Copy(ctx context.Context, src Source, dst name.Reference, opts Options) (*Result, error) {
	if opts.Jobs <= 0 {
		opts.Jobs = 4
	}
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.Known == nil {
		opts.Known = NewKnown()
	}
	if opts.Site == "" {
		opts.Site = dst.Context().RegistryStr()
	}
	res := &Result{}

	// Gather the blobs and manifests, children before parents.
	blobs := map[v1.Hash]blob{}
	var manifests []manifest
	if err := collect(src, blobs, &manifests, res); err != nil {
		return res, err
	}
	res.Contents = contentsOf(blobs, manifests)
	res.TotalBytes = res.Contents.Bytes()

	ropts, err := reusing(ctx, opts)
	if err != nil {
		return res, err
	}

	var streamed atomic.Int64
	stopProgress := startProgress(opts, &streamed, res.TotalBytes)
	defer stopProgress()

	sent := &sentSet{m: Sizes{}}
	err = copyBlobs(ctx, blobs, &copier{repo: dst.Context(), opts: opts, ropts: ropts, streamed: &streamed, sent: sent}, res)
	if err == nil {
		err = putManifests(manifests, dst, ropts, sent)
	}
	res.Sent = sent.snapshot()
	res.SentBytes = res.Sent.Bytes()
	return res, err
}

// reusing are opts.Remote with ctx and one puller and one pusher for the whole copy: they keep
// the registry transports (ping, token), so each blob check or upload is one request, not three.
func reusing(ctx context.Context, opts Options) ([]remote.Option, error) {
	base := append([]remote.Option{remote.WithContext(ctx)}, opts.Remote...)
	puller, err := remote.NewPuller(base...)
	if err != nil {
		return nil, err
	}
	pusher, err := remote.NewPusher(base...)
	if err != nil {
		return nil, err
	}
	return append(base, remote.Reuse(puller), remote.Reuse(pusher)), nil
}

// copyBlobs transfers the blobs, Jobs at a time; the first failure cancels the others.
func copyBlobs(ctx context.Context, blobs map[v1.Hash]blob, c *copier, res *Result) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Jobs)
	// Every request of a blob transfer carries the group's context.
	gc := *c
	gc.ropts = append(c.ropts[:len(c.ropts):len(c.ropts)], remote.WithContext(gctx))
	var mu sync.Mutex
	for _, b := range sortedBlobs(blobs) {
		g.Go(func() error {
			outcome, err := gc.blob(gctx, b)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				return err
			case outcome == uploaded:
				res.BlobsUploaded++
			case outcome == mounted:
				res.BlobsMounted++
			default:
				res.BlobsExisting++
			}
			return nil
		})
	}
	return g.Wait()
}

// putManifests writes the manifests, children first by digest and the top-level one last under
// dst. One the registry already holds is not written again: re-verifying an image sends nothing.
func putManifests(manifests []manifest, dst name.Reference, ropts []remote.Option, sent *sentSet) error {
	repo := dst.Context()
	for i, m := range manifests {
		ref := name.Reference(repo.Digest(m.digest.String()))
		if i == len(manifests)-1 {
			ref = dst
		}
		if ok, err := manifestIs(ref, m.digest, ropts); err != nil {
			return err
		} else if ok {
			continue
		}
		if err := remote.Put(ref, m, ropts...); err != nil {
			return fmt.Errorf("putting manifest %s to %s: %w", m.digest, ref, err)
		}
		sent.add(m.digest, int64(len(m.raw)))
	}
	return nil
}

// manifestIs reports whether ref already resolves to digest.
func manifestIs(ref name.Reference, digest v1.Hash, ropts []remote.Option) (bool, error) {
	desc, err := remote.Head(ref, ropts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking manifest %s: %w", ref, err)
	}
	return desc.Digest == digest, nil
}

type outcome int

const (
	existing outcome = iota
	mounted
	uploaded
)

// copier transfers the blobs of one copy to repo.
type copier struct {
	repo  name.Repository
	opts  Options
	ropts []remote.Option
	// streamed counts bytes as they are read for upload (progress); sent has the blobs whose
	// content was read to its verified end (SentBytes).
	streamed *atomic.Int64
	sent     *sentSet
}

func (c *copier) blob(ctx context.Context, b blob) (outcome, error) {
	site, repoName := c.opts.Site, c.repo.RepositoryStr()
	if c.opts.Known.has(site, repoName, b.hash) {
		return existing, nil
	}
	if ok, err := c.exists(c.repo, b.hash); err != nil {
		return 0, err
	} else if ok {
		c.opts.Known.add(site, repoName, b.hash)
		return existing, nil
	}
	from := c.mountSource(b.hash)
	if from == "" {
		f, leader := c.opts.Known.begin(site, b.hash, repoName)
		if leader {
			err := c.upload(ctx, b)
			c.opts.Known.end(site, b.hash, f, err)
			if err != nil {
				return 0, err
			}
			return uploaded, nil
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if f.err == nil {
			from = f.repo
		}
	}
	if from != "" {
		if o, ok := c.mount(from, b); ok {
			return o, nil
		}
	}
	if err := c.upload(ctx, b); err != nil {
		return 0, err
	}
	return uploaded, nil
}

// maxProbes bounds the MountFrom candidates asked for a blob no copy of this process has seen:
// candidates are every image of the bundle that shares it, so at a site that holds it the first
// ones do, and a blob new to the site would otherwise cost a request per sibling image.
const maxProbes = 3

// mountSource is a repository of the registry known to hold h, else one of the first MountFrom
// candidates that does; none while another copy of this process is uploading h (the caller
// waits for that upload and mounts from it).
func (c *copier) mountSource(h v1.Hash) string {
	site, repoName := c.opts.Site, c.repo.RepositoryStr()
	if from := c.opts.Known.holder(site, h, repoName); from != "" {
		return from
	}
	if c.opts.Known.uploading(site, h) {
		return ""
	}
	probes := 0
	for _, cand := range c.opts.MountFrom {
		if probes == maxProbes {
			break
		}
		cand = RepositoryName(cand, c.repo.RegistryStr())
		candRepo, err := name.NewRepository(c.repo.RegistryStr()+"/"+cand, repoOpts(c.repo)...)
		if err != nil || cand == repoName {
			continue
		}
		probes++
		if ok, _ := c.exists(candRepo, h); ok {
			c.opts.Known.add(site, cand, h)
			return cand
		}
	}
	return ""
}

// mount asks the registry to link the blob from another repository, and checks it did. A
// registry that declines the mount gets the content instead (go-containerregistry falls
// back to an upload): then the outcome is an upload, verified and counted like one.
func (c *copier) mount(from string, b blob) (outcome, bool) {
	fromRepo, err := name.NewRepository(c.repo.RegistryStr()+"/"+from, repoOpts(c.repo)...)
	if err != nil {
		return 0, false
	}
	layer := c.verified(b)
	ml := &remote.MountableLayer{Layer: layer, Reference: fromRepo.Digest(b.hash.String())}
	err = remote.WriteLayer(c.repo, ml, c.ropts...)
	c.settle(layer, err)
	if err != nil {
		return 0, false
	}
	if ok, _ := c.exists(c.repo, b.hash); !ok {
		return 0, false
	}
	c.opts.Known.add(c.opts.Site, c.repo.RepositoryStr(), b.hash)
	if layer.read.Load() > 0 {
		return uploaded, true
	}
	return mounted, true
}

func (c *copier) upload(ctx context.Context, b blob) error {
	if c.opts.Upload != nil && b.size >= blobupload.MinChunkSize {
		return c.uploadChunked(ctx, b)
	}
	layer := c.verified(b)
	if c.opts.Upload != nil {
		layer.limit = func(rc io.ReadCloser) io.ReadCloser { return blobupload.Reader(ctx, rc, c.opts.Upload.Limiter) }
	}
	err := remote.WriteLayer(c.repo, layer, c.ropts...)
	c.settle(layer, err)
	if err != nil {
		return fmt.Errorf("uploading blob %s to %s: %w", b.hash, c.repo, err)
	}
	c.opts.Known.add(c.opts.Site, c.repo.RepositoryStr(), b.hash)
	return nil
}

// uploadChunked sends b with blobupload: a cut costs at most a chunk, not the blob. The
// registry checks the digest of what it assembled; a mismatch is the source's, permanent.
func (c *copier) uploadChunked(ctx context.Context, b blob) error {
	src, err := blobupload.FromLayer(b.layer)
	if err != nil {
		return err
	}
	src.Digest, src.Size = b.hash, b.size
	o := *c.opts.Upload
	var shown int64 // what this blob added to the progress
	o.Progress = func(done, _ int64) {
		c.streamed.Add(done - shown)
		shown = done
	}
	_, err = blobupload.Upload(ctx, c.repo, src, o)
	if err != nil {
		c.streamed.Add(-shown)
		if errors.Is(err, blobupload.ErrDigestMismatch) {
			return &CorruptError{Digest: b.hash, Reason: "corrupt in the source: the registry refused it, its bytes do not match the digest"}
		}
		return fmt.Errorf("uploading blob %s to %s: %w", b.hash, c.repo, err)
	}
	c.streamed.Add(b.size - shown)
	c.sent.add(b.hash, b.size)
	c.opts.Known.add(c.opts.Site, c.repo.RepositoryStr(), b.hash)
	return nil
}

// verified is b's content, checked against its digest as it streams and counted.
func (c *copier) verified(b blob) *verified {
	return &verified{Layer: b.layer, hash: b.hash, size: b.size, streamed: c.streamed,
		sent: func() { c.sent.add(b.hash, b.size) }}
}

// settle makes the progress show what is stored or on its way: a failed upload's bytes are
// taken back, a finished one counts its size once however often the transport reread it.
func (c *copier) settle(l *verified, err error) {
	read := l.read.Load()
	switch {
	case err != nil:
		c.streamed.Add(-read)
	case read > 0:
		c.streamed.Add(l.size - read)
	}
}

// exists asks the registry with a blob HEAD; 404 means no.
func (c *copier) exists(repo name.Repository, h v1.Hash) (bool, error) {
	l, err := remote.Layer(repo.Digest(h.String()), c.ropts...)
	if err != nil {
		return false, fmt.Errorf("checking blob %s in %s: %w", h, repo, err)
	}
	if _, err := l.Size(); err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return false, nil
		}
		return false, fmt.Errorf("checking blob %s in %s: %w", h, repo, err)
	}
	return true, nil
}

// repoOpts parse a sibling repository of repo the way repo was parsed. name.Insecure only lets
// go-containerregistry try http after https; whether a request may go over plain http at all is
// decided by the caller's transport (nodowngrade), never here.
func repoOpts(repo name.Repository) []name.Option {
	if repo.Registry.Scheme() == "http" {
		return []name.Option{name.Insecure}
	}
	return nil
}

// verified streams a layer while counting bytes and checking its digest at EOF.
type verified struct {
	v1.Layer
	hash     v1.Hash
	size     int64
	streamed *atomic.Int64
	// read counts what this upload read, over every time the transport reopened the layer.
	read atomic.Int64
	// sent is called when the content was read to its verified end.
	sent func()
	// limit, when set, paces the content (a rate cap shared by the process).
	limit func(io.ReadCloser) io.ReadCloser
}

func (v *verified) Compressed() (io.ReadCloser, error) {
	rc, err := v.Layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", v.hash, err)
	}
	var r io.ReadCloser = &verifyingReader{rc: rc, want: v.hash, size: v.size, h: newHasher(),
		counters: []*atomic.Int64{v.streamed, &v.read}, done: v.sent}
	if v.limit != nil {
		r = v.limit(r)
	}
	return r, nil
}

func sortedBlobs(m map[v1.Hash]blob) []blob {
	out := make([]blob, 0, len(m))
	for _, b := range m {
		out = append(out, b)
	}
	// Largest first: the long transfers start early and the tail is short.
	sort.Slice(out, func(i, j int) bool {
		if out[i].size != out[j].size {
			return out[i].size > out[j].size
		}
		return out[i].hash.String() < out[j].hash.String()
	})
	return out
}

func startProgress(opts Options, sent *atomic.Int64, total int64) (stop func()) {
	if opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(opts.Interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				opts.Progress(sent.Load(), total)
			}
		}
	}()
	return func() { close(done) }
}
