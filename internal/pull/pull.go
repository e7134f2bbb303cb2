package pull

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"airgap-site/bundle"
	"airgap-site/internal/nodowngrade"
)

// Puller pulls images from their registries into a bundle.
type Puller struct {
	insecure  map[string]bool // registries as go-containerregistry spells them
	platforms []v1.Platform   // empty: keep every platform
	opts      []remote.Option
}

// Options say how registries are reached and which platforms are kept.
type Options struct {
	// Insecure are registries, host[:port], reached over plain http or unverified TLS. No
	// other registry is ever reached over plain http (nodowngrade).
	Insecure []string
	// Platforms, e.g. linux/amd64, are kept of multi-arch images; empty keeps every one.
	Platforms []string
	// Keychain finds credentials; nil means authn.DefaultKeychain (docker config,
	// credential helpers).
	Keychain authn.Keychain
	// Transport reaches the registries; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

// New checks the options and sets up registry access.
func New(o Options) (*Puller, error) {
	p := &Puller{insecure: map[string]bool{}}
	for _, h := range o.Insecure {
		reg, err := name.NewRegistry(strings.TrimSpace(h))
		if err != nil {
			return nil, fmt.Errorf("parsing insecure registry %q: %w", h, err)
		}
		p.insecure[reg.RegistryStr()] = true
	}
	for _, s := range o.Platforms {
		pl, err := v1.ParsePlatform(s)
		if err != nil || pl.OS == "" || pl.Architecture == "" {
			return nil, fmt.Errorf("parsing platform %q: want os/arch[/variant], e.g. linux/amd64", s)
		}
		p.platforms = append(p.platforms, *pl)
	}
	keychain, transport := o.Keychain, o.Transport
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	if transport == nil {
		transport = http.DefaultTransport
	}
	if len(p.insecure) > 0 {
		transport = &insecureTransport{hosts: p.insecure, base: transport, skipVerify: skipVerify(transport)}
	}
	// No fallback to plain http but to the registries named insecure: go-containerregistry
	// would otherwise try it for any LAN or loopback registry whose https fails, with the
	// keychain's credentials.
	transport = nodowngrade.Transport(transport, nodowngrade.PlainHTTP{
		Hosts: slices.Collect(maps.Keys(p.insecure)), Setting: "airgap bundle --insecure-registry HOST",
	})
	p.opts = []remote.Option{
		remote.WithAuthFromKeychain(keychain),
		remote.WithTransport(transport),
		remote.WithUserAgent("airgap-site"),
	}
	return p, nil
}

// parse parses ref, marking insecure registries so they are reached over plain http.
func (p *Puller) parse(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	if p.insecure[r.Context().RegistryStr()] {
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

// Pulled is what Pull stored.
type Pulled struct {
	// Entry is the image.
	bundle.Entry
	// Attached are the artifacts stored beside it, in bundle.AttachedKinds order.
	Attached []bundle.Entry
	// Skipped says which referrers were left out, and why.
	Skipped []string
	// SignedBy is the key whose signature was verified; nil when none was asked for.
	SignedBy *Key
}

// Pull pulls ref and adds it to the bundle: an index as-is, or with only the wanted platforms
// unless ref is a digest; a single image as-is. Then it adds what the registry keeps beside
// the image about it (attached): its OCI 1.1 referrers (unverified), and, only with a key, its
// cosign signatures and attestations, each an entry of its own (bundle.AttachedRef). Without
// a key, signatures and attestations do not travel (Skipped names the ones the registry has).
//
// With a key, the image must carry a cosign signature by it, and every attestation must be
// signed by it, checked before anything of the image is stored: an image that fails is not
// bundled. progress, if not nil, is told the
// compressed layer bytes as they are read (go-containerregistry's remote.WithProgress reports
// pushes only). Pull may be called concurrently; a blob shared by images is pulled once.
func (p *Puller) Pull(ctx context.Context, w *bundle.Writer, ref string, key *Key, progress func(n int64)) (Pulled, error) {
	r, err := p.parse(ref)
	if err != nil {
		return Pulled{}, err
	}
	desc, err := remote.Get(r, append(p.opts, remote.WithContext(ctx))...)
	if err != nil {
		return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
	}
	var (
		digest v1.Hash
		add    func() (bundle.Entry, error)
	)
	switch mt := desc.MediaType; {
	case mt.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
		}
		// A digest reference pins the index as it is: filtering would change its digest.
		if _, pinned := r.(name.Digest); !pinned {
			if idx, err = p.filterIndex(idx); err != nil {
				return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
			}
		}
		if digest, err = idx.Digest(); err != nil {
			return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
		}
		add = func() (bundle.Entry, error) { return w.AddIndex(ref, counted(idx, progress)) }
	case mt.IsImage():
		img, err := desc.Image()
		if err != nil {
			return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
		}
		if err := p.checkImage(img); err != nil {
			return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
		}
		digest = desc.Digest
		add = func() (bundle.Entry, error) { return w.AddImage(ref, countedImage(img, progress)) }
	default:
		return Pulled{}, fmt.Errorf("pulling %s: unsupported manifest type %s", ref, mt)
	}

	// Signatures and the rest are of the registry's digest: an index rebuilt with fewer
	// platforms has none, and no signature can vouch for it.
	var att attached
	if digest == desc.Digest {
		if att, err = p.attached(ctx, r.Context(), digest, key != nil); err != nil {
			return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
		}
	}
	if key != nil {
		if digest != desc.Digest {
			return Pulled{}, fmt.Errorf("verifying signature of %s: --platform rebuilt its index (%s, the registry's is %s), "+
				"which no signature by key %s covers: bundle every platform of it, or pin it by digest", ref, digest, desc.Digest, key)
		}
		if err := verifySignature(att.sig, r.Context(), digest, key); err != nil {
			return Pulled{}, fmt.Errorf("verifying signature of %s: %w", ref, err)
		}
		if err := verifyAttestations(att.att, r.Context(), digest, key); err != nil {
			return Pulled{}, fmt.Errorf("verifying attestations of %s: %w", ref, err)
		}
	}

	e, err := add()
	if err != nil {
		return Pulled{}, err
	}
	out := Pulled{Entry: e, Skipped: att.skipped, SignedBy: key}
	// After the image: an artifact is never in the bundle without what it is about.
	if out.Attached, err = att.store(w, ref, digest, progress); err != nil {
		return out, fmt.Errorf("pulling %s: %w", ref, err)
	}
	return out, nil
}

// filterIndex keeps the children of the wanted platforms. An index that has only those keeps
// its digest; otherwise a new index is built (with a new digest, recorded in the bundle).
func (p *Puller) filterIndex(idx v1.ImageIndex) (v1.ImageIndex, error) {
	if len(p.platforms) == 0 {
		return idx, nil
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var kept int
	var have []string
	for _, d := range im.Manifests {
		if d.Platform != nil {
			have = append(have, d.Platform.String())
		}
		if p.wanted(d.Platform) {
			kept++
		}
	}
	if kept == 0 {
		return nil, fmt.Errorf("no manifest for %s (the index has %s)", p.platformList(), strings.Join(have, ", "))
	}
	if kept == len(im.Manifests) {
		return idx, nil
	}
	return mutate.RemoveManifests(idx, func(d v1.Descriptor) bool { return !p.wanted(d.Platform) }), nil
}

// checkImage rejects a single-platform image of another platform: it would not run at the
// site. Images whose config names no platform pass.
func (p *Puller) checkImage(img v1.Image) error {
	if len(p.platforms) == 0 {
		return nil
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	pl := cfg.Platform()
	if pl == nil || pl.OS == "" || p.wanted(pl) {
		return nil
	}
	return fmt.Errorf("image is %s, not %s", pl, p.platformList())
}

func (p *Puller) wanted(have *v1.Platform) bool {
	if have == nil {
		return false
	}
	for _, want := range p.platforms {
		if have.OS == want.OS && have.Architecture == want.Architecture &&
			(want.Variant == "" || variant(have) == variant(&want)) {
			return true
		}
	}
	return false
}

// variant treats arm64 and arm64/v8 as the same, as containerd does.
func variant(p *v1.Platform) string {
	if p.Architecture == "arm64" && p.Variant == "" {
		return "v8"
	}
	return p.Variant
}

func (p *Puller) platformList() string {
	s := make([]string, len(p.platforms))
	for i, pl := range p.platforms {
		s[i] = pl.String()
	}
	return strings.Join(s, ", ")
}

// insecureTransport skips TLS verification for the insecure registries, the other half of
// what --insecure-registry means to docker (name.Insecure already allows plain http).
type insecureTransport struct {
	hosts      map[string]bool
	base       http.RoundTripper
	skipVerify http.RoundTripper
}

func (t *insecureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.hosts[r.URL.Host] && t.skipVerify != nil {
		return t.skipVerify.RoundTrip(r)
	}
	return t.base.RoundTrip(r)
}

// skipVerify clones base with TLS verification off; nil if base is not an *http.Transport.
func skipVerify(base http.RoundTripper) http.RoundTripper {
	t, ok := base.(*http.Transport)
	if !ok {
		return nil
	}
	t = t.Clone()
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // only for registries named by --insecure-registry
	return t
}
