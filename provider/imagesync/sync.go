package imagesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Source is what to copy: exactly one of Image and Index.
type Source struct {
	Image v1.Image
	Index v1.ImageIndex
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
	// already (the site's other images): those are mounted, not uploaded.
	MountFrom []string
	// Remote are extra go-containerregistry options (auth, transport).
	Remote []remote.Option
	// Progress, when set, is called as bytes are sent (at most every Interval).
	Progress func(sent, total int64)
	// Interval between Progress calls; 0 means 2 s.
	Interval time.Duration
	// Known remembers blobs known to exist per repository across copies in one process.
	Known *Known
}

// Result describes a finished copy.
type Result struct {
	Digest    v1.Hash
	MediaType types.MediaType
	Platforms []string
	// TotalBytes is the size of every unique blob and manifest of the image.
	TotalBytes int64
	// SentBytes is what was actually uploaded (blobs and manifests).
	SentBytes                                  int64
	BlobsUploaded, BlobsMounted, BlobsExisting int
}

// Known is a process-wide memory of blobs known to exist in repositories, so a provider that
// copies many images does not ask the registry twice, and knows where to mount from.
type Known struct {
	mu    sync.Mutex
	repos map[string]map[v1.Hash]bool
	// inflight are uploads under way, per registry and blob: the engine copies images in
	// parallel, and images that share a base layer would otherwise all upload it at once.
	inflight map[string]*flight
}

// flight is one blob upload others may wait for, to mount from its repository afterwards.
type flight struct {
	done chan struct{}
	repo string
	err  error
}

// NewKnown returns an empty memory.
func NewKnown() *Known {
	return &Known{repos: map[string]map[v1.Hash]bool{}, inflight: map[string]*flight{}}
}

// begin registers an upload of h to repo. The first caller leads (and must call end); the
// others get the leader's flight to wait on.
func (k *Known) begin(registry string, h v1.Hash, repo string) (f *flight, leader bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := registry + "@" + h.String()
	if f, ok := k.inflight[key]; ok {
		return f, false
	}
	f = &flight{done: make(chan struct{}), repo: repo}
	k.inflight[key] = f
	return f, true
}

func (k *Known) end(registry string, h v1.Hash, f *flight, err error) {
	k.mu.Lock()
	delete(k.inflight, registry+"@"+h.String())
	k.mu.Unlock()
	f.err = err
	close(f.done)
}

func (k *Known) add(repo string, h v1.Hash) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.repos[repo] == nil {
		k.repos[repo] = map[v1.Hash]bool{}
	}
	k.repos[repo][h] = true
}

func (k *Known) has(repo string, h v1.Hash) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.repos[repo][h]
}

// holder returns a repository (other than except) known to hold h.
func (k *Known) holder(h v1.Hash, except string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var names []string
	for repo, blobs := range k.repos {
		if repo != except && blobs[h] {
			names = append(names, repo)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// blob is one blob to transfer.
type blob struct {
	layer v1.Layer
	hash  v1.Hash
	size  int64
}

// Copy copies src to dst (a tag or digest reference in the target registry).
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
	base := append([]remote.Option{remote.WithContext(ctx)}, opts.Remote...)
	// One puller and one pusher per copy: they keep the registry transports (ping, token), so
	// each blob check or upload is one request, not three.
	puller, err := remote.NewPuller(base...)
	if err != nil {
		return nil, err
	}
	pusher, err := remote.NewPusher(base...)
	if err != nil {
		return nil, err
	}
	ropts := append(base, remote.Reuse(puller), remote.Reuse(pusher))
	repo := dst.Context()
	res := &Result{}

	// Gather the blobs and manifests, children before parents.
	blobs := map[v1.Hash]blob{}
	var manifests []manifest
	if err := collect(src, blobs, &manifests, res); err != nil {
		return nil, err
	}
	var total int64
	for _, b := range blobs {
		total += b.size
	}
	for _, m := range manifests {
		total += int64(len(m.raw))
	}
	res.TotalBytes = total

	var sent atomic.Int64
	stopProgress := startProgress(opts, &sent, total)
	defer stopProgress()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Jobs)
	var mu sync.Mutex
	for _, b := range sortedBlobs(blobs) {
		g.Go(func() error {
			outcome, err := copyBlob(gctx, repo, b, opts, ropts, &sent)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			switch outcome {
			case uploaded:
				res.BlobsUploaded++
			case mounted:
				res.BlobsMounted++
			default:
				res.BlobsExisting++
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Children first, by digest; the top-level manifest last, under dst, so a tag never
	// points at content that is not all there.
	for i, m := range manifests {
		ref := name.Reference(repo.Digest(m.digest.String()))
		if i == len(manifests)-1 {
			ref = dst
		}
		if err := remote.Put(ref, m, ropts...); err != nil {
			return nil, fmt.Errorf("putting manifest %s to %s: %w", m.digest, ref, err)
		}
		sent.Add(int64(len(m.raw)))
	}
	res.SentBytes = sent.Load()
	return res, nil
}

type outcome int

const (
	existing outcome = iota
	mounted
	uploaded
)

func copyBlob(ctx context.Context, repo name.Repository, b blob, opts Options, ropts []remote.Option, sent *atomic.Int64) (outcome, error) {
	repoName := repo.String()
	if opts.Known.has(repoName, b.hash) {
		return existing, nil
	}
	if ok, err := blobExists(repo, b.hash, ropts); err != nil {
		return 0, err
	} else if ok {
		opts.Known.add(repoName, b.hash)
		return existing, nil
	}
	// Mount from a repository known to hold the blob, else probe the candidates.
	from := opts.Known.holder(b.hash, repoName)
	if from == "" {
		for _, cand := range opts.MountFrom {
			candRepo, err := name.NewRepository(cand, repoOpts(repo)...)
			if err != nil || candRepo.String() == repoName {
				continue
			}
			if ok, _ := blobExists(candRepo, b.hash, ropts); ok {
				opts.Known.add(candRepo.String(), b.hash)
				from = candRepo.String()
				break
			}
		}
	}
	if from == "" {
		f, leader := opts.Known.begin(repo.RegistryStr(), b.hash, repoName)
		if leader {
			err := upload(repo, b, ropts, sent)
			opts.Known.end(repo.RegistryStr(), b.hash, f, err)
			if err != nil {
				return 0, err
			}
			opts.Known.add(repoName, b.hash)
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
		fromRepo, err := name.NewRepository(from, repoOpts(repo)...)
		if err == nil {
			ml := &remote.MountableLayer{Layer: b.layer, Reference: fromRepo.Digest(b.hash.String())}
			if err := remote.WriteLayer(repo, ml, ropts...); err == nil {
				if ok, _ := blobExists(repo, b.hash, ropts); ok {
					opts.Known.add(repoName, b.hash)
					return mounted, nil
				}
			}
		}
	}
	if err := upload(repo, b, ropts, sent); err != nil {
		return 0, err
	}
	opts.Known.add(repoName, b.hash)
	return uploaded, nil
}

func upload(repo name.Repository, b blob, ropts []remote.Option, sent *atomic.Int64) error {
	layer := &verified{Layer: b.layer, hash: b.hash, size: b.size, sent: sent}
	if err := remote.WriteLayer(repo, layer, ropts...); err != nil {
		return fmt.Errorf("uploading blob %s to %s: %w", b.hash, repo, err)
	}
	return nil
}

func repoOpts(repo name.Repository) []name.Option {
	if repo.Registry.Scheme() == "http" {
		return []name.Option{name.Insecure}
	}
	return nil
}

// blobExists asks the registry with a blob HEAD; 404 means no.
func blobExists(repo name.Repository, h v1.Hash, ropts []remote.Option) (bool, error) {
	l, err := remote.Layer(repo.Digest(h.String()), ropts...)
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

// verified streams a layer while counting bytes and checking its digest at EOF.
type verified struct {
	v1.Layer
	hash v1.Hash
	size int64
	sent *atomic.Int64
}

func (v *verified) Compressed() (io.ReadCloser, error) {
	rc, err := v.Layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", v.hash, err)
	}
	return &verifyingReader{rc: rc, want: v.hash, size: v.size, h: newHasher(), sent: v.sent}, nil
}

type manifest struct {
	raw       []byte
	digest    v1.Hash
	mediaType types.MediaType
}

func (m manifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m manifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }
func (m manifest) Digest() (v1.Hash, error)            { return m.digest, nil }
func (m manifest) Size() (int64, error)                { return int64(len(m.raw)), nil }

func collect(src Source, blobs map[v1.Hash]blob, manifests *[]manifest, res *Result) error {
	switch {
	case src.Index != nil:
		return collectIndex(src.Index, blobs, manifests, res, true)
	case src.Image != nil:
		if err := collectImage(src.Image, blobs, manifests); err != nil {
			return err
		}
		last := (*manifests)[len(*manifests)-1]
		res.Digest, res.MediaType = last.digest, last.mediaType
		if cf, err := src.Image.ConfigFile(); err == nil && cf.OS != "" {
			res.Platforms = []string{platformString(cf.OS, cf.Architecture, cf.Variant)}
		}
		return nil
	}
	return errors.New("empty source")
}

func collectIndex(idx v1.ImageIndex, blobs map[v1.Hash]blob, manifests *[]manifest, res *Result, top bool) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("reading index: %w", err)
	}
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return fmt.Errorf("reading child index %s: %w", d.Digest, err)
			}
			if err := collectIndex(child, blobs, manifests, res, false); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			child, err := idx.Image(d.Digest)
			if err != nil {
				return fmt.Errorf("reading child image %s: %w", d.Digest, err)
			}
			if err := collectImage(child, blobs, manifests); err != nil {
				return err
			}
			if top && d.Platform != nil {
				res.Platforms = append(res.Platforms, platformString(d.Platform.OS, d.Platform.Architecture, d.Platform.Variant))
			}
		default:
			// Attestations and other artifacts: copied as plain manifests are not needed by
			// containerd; skip what we cannot interpret rather than fail the image.
		}
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	mt, err := idx.MediaType()
	if err != nil {
		return err
	}
	*manifests = append(*manifests, manifest{raw: raw, digest: digest, mediaType: mt})
	if top {
		res.Digest, res.MediaType = digest, mt
	}
	return nil
}

func collectImage(img v1.Image, blobs map[v1.Hash]blob, manifests *[]manifest) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("reading layers: %w", err)
	}
	for _, l := range layers {
		h, err := l.Digest()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		mt, _ := l.MediaType()
		if mt.IsDistributable() || mt == "" {
			blobs[h] = blob{layer: l, hash: h, size: size}
		}
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("reading manifest: %w", err)
	}
	blobs[m.Config.Digest] = blob{layer: static.NewLayer(rawConfig, m.Config.MediaType), hash: m.Config.Digest, size: int64(len(rawConfig))}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	*manifests = append(*manifests, manifest{raw: raw, digest: digest, mediaType: mt})
	return nil
}

func platformString(os, arch, variant string) string {
	s := os + "/" + arch
	if variant != "" {
		s += "/" + variant
	}
	return s
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
