package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"airgap-site/bundle"
	"airgap-site/internal/progress"
	"airgap-site/internal/pull"
	"airgap-site/signing"
)

// bundleOptions are the flags of `airgap bundle`, plus what tests replace.
type bundleOptions struct {
	Images      string
	Out         string
	Platforms   []string
	Insecure    []string
	Concurrency int
	// SignKey signs bundle.json (a cosign key; its password from COSIGN_PASSWORD).
	SignKey string
	// Sequence, Expires and Sites are the bundle's stamp (bundle.Stamp): 0 means the default
	// sequence, a zero Expires none, no Sites every site.
	Sequence int64
	Expires  time.Duration
	Sites    []string
	// Against (a stack, read with `pulumi stack export` in Project) or AgainstState (such an
	// export) makes a delta bundle: the blobs the site holds by the stack's inventory are left
	// out and recorded as assumed. Pulumi is the pulumi binary ("": pulumi on PATH).
	Against      string
	AgainstState string
	Project      string
	Pulumi       string

	Stderr    io.Writer
	Keychain  authn.Keychain    // nil: authn.DefaultKeychain
	Transport http.RoundTripper // nil: http.DefaultTransport
	Interval  time.Duration     // between byte-progress lines; 0: 2s
}

func newBundleCmd() *cobra.Command {
	o := bundleOptions{Concurrency: 4}
	cmd := &cobra.Command{
		Use:   "bundle --images images.yaml --out DIR",
		Short: "Pull images into a bundle (online, at the office)",
		Long: `Pull every image listed in images.yaml into the bundle at DIR: an OCI layout plus
bundle.json, carried to the site. images.yaml is a list, or {images: [...]}, of references
or {image: ref, build: {...}} objects; the latter are built at the site and skipped here.

Each image's OCI referrers are bundled beside it. {image: ref, key: cosign.pub} (a path
relative to images.yaml) requires a valid cosign signature of the image by that key (an
image without one is not bundled), and only then are its cosign signatures and attestations
(tags sha256-<digest>.sig and .att, every attestation signed by that key) bundled too: an
image without a key carries none, and the output says which were not carried.

A registry is reached over https only, never over plain http after a failed https (the
fallback go-containerregistry would take for LAN and loopback addresses), unless it is named
by --insecure-registry.

Multi-arch images are kept as-is (same digest as upstream) unless --platform is given.
A bundle can be added to: an image already in it is replaced. Images that fail are
reported and the command exits non-zero, but the others are kept.

--sign-key signs the bundle (bundle.json, which records the digest of index.json, from
which every other byte is checked) with a cosign key, its password in COSIGN_PASSWORD, into
bundle.json.sig. The site accepts only bundles signed by a key in images.trustedKeys;
cosign verify-blob --key cosign.pub --signature DIR/bundle.json.sig
--insecure-ignore-tlog=true DIR/bundle.json checks it too. Only what this run wrote is
signed: DIR must be new (or hold only the images this run pulls again); an image or file
left there by an earlier run, or kept from before because its pull failed this time, is
refused by name and nothing is signed.

bundle.json records a sequence: --sequence, by default the Unix time in seconds (always
above the sequence of a bundle added to). A site refuses a bundle with a lower sequence
than one it accepted before (a rollback), unless images.allowDowngrade is set for that up.
--expires (e.g. 720h) and --site (repeatable) limit when and where it is accepted.

--against STACK makes a delta bundle for that site: it reads what the site registry holds
from the stack's state (pulumi stack export --stack STACK, run in --project; no passphrase
is needed), and carries every image's manifests and configs but only the layers the site
lacks; bundle.json lists the others under assumes (digest, size, a repository at the site
holding it), covered by the signature. --against-state FILE reads an export taken before
(pulumi stack export --stack STACK > FILE). At the site, an image whose assumed layer the
registry lacks fails before anything of it is pushed: then bring a full bundle (without
--against).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Stderr = cmd.ErrOrStderr()
			return runBundle(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Images, "images", "", "images file (YAML)")
	f.StringVar(&o.Out, "out", "", "bundle directory (created, or added to)")
	f.StringArrayVar(&o.Platforms, "platform", nil, "keep only this platform of multi-arch images, e.g. linux/amd64 (repeatable)")
	f.StringArrayVar(&o.Insecure, "insecure-registry", nil, "registry host[:port] reached over plain http or unverified TLS (repeatable); no other is ever reached over plain http")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "images pulled at once")
	f.StringVar(&o.SignKey, "sign-key", "", "cosign private key to sign the bundle with (password: $COSIGN_PASSWORD)")
	f.Int64Var(&o.Sequence, "sequence", 0, "the bundle's sequence, higher than every earlier bundle's (default: the Unix time in seconds)")
	f.DurationVar(&o.Expires, "expires", 0, "sites refuse the bundle this long after it is made, e.g. 720h (default: never)")
	f.StringArrayVar(&o.Sites, "site", nil, "only this site accepts the bundle (its site name; repeatable; default: every site)")
	f.StringVar(&o.Against, "against", "", "make a delta bundle for this stack's site: leave out the layers its state says the site registry holds")
	f.StringVar(&o.AgainstState, "against-state", "", "make a delta bundle against a `pulumi stack export` of the site's stack written to this file")
	f.StringVar(&o.Project, "project", "", "project directory where --against runs pulumi stack export (default: current directory)")
	_ = cmd.MarkFlagRequired("images")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// runBundle pulls the listed images into the bundle. It keeps going past failures and
// returns an error naming the images that failed.
func runBundle(ctx context.Context, o bundleOptions) error {
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Concurrency < 1 {
		return fmt.Errorf("--concurrency must be at least 1, not %d", o.Concurrency)
	}
	data, err := os.ReadFile(o.Images)
	if err != nil {
		return fmt.Errorf("reading images: %w", err)
	}
	list, err := pull.ParseList(data)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Images, err)
	}
	keys, err := list.LoadKeys(filepath.Dir(o.Images))
	if err != nil {
		return fmt.Errorf("%s: %w", o.Images, err)
	}
	p, err := pull.New(pull.Options{Insecure: o.Insecure, Platforms: o.Platforms, Keychain: o.Keychain, Transport: o.Transport})
	if err != nil {
		return err
	}
	// The key is read before anything is pulled: a wrong password fails at once.
	var signer *signing.Signer
	if o.SignKey != "" {
		if signer, err = signing.LoadSignerFile(o.SignKey, []byte(os.Getenv("COSIGN_PASSWORD"))); err != nil {
			return fmt.Errorf("--sign-key: %w", err)
		}
	}
	if o.Sequence < 0 || o.Expires < 0 {
		return fmt.Errorf("--sequence and --expires must not be negative")
	}
	delta, err := loadAgainst(ctx, o)
	if err != nil {
		return err
	}
	w, err := bundle.Create(o.Out)
	if err != nil {
		return err
	}
	if delta != nil {
		w.AssumePresent(delta.present())
		delta.report(o.Stderr)
	}
	stamp := bundle.Stamp{Sequence: o.Sequence, Sites: o.Sites}
	if o.Expires > 0 {
		stamp.Expires = time.Now().Add(o.Expires).UTC()
	}
	w.SetStamp(stamp)
	for _, ref := range list.Build {
		fmt.Fprintf(o.Stderr, "skipping %s: built at the site\n", ref)
	}

	start := time.Now()
	// One lock for the progress lines and the lines about attached artifacts.
	out := &syncWriter{w: o.Stderr}
	prog := progress.New(out, len(list.Refs), o.Interval)
	var (
		g      errgroup.Group
		mu     sync.Mutex
		failed = map[int]string{}
	)
	g.SetLimit(o.Concurrency)
	for i, ref := range list.Refs {
		g.Go(func() error {
			if ctx.Err() != nil { // interrupted: do not start more
				mu.Lock()
				failed[i] = ref
				mu.Unlock()
				return nil
			}
			j := prog.Start(i+1, ref)
			e, err := p.Pull(ctx, w, ref, keys[ref], j.Add)
			prog.End(j, e.Size, err)
			reportAttached(out, ref, e)
			if delta != nil && err == nil {
				reportDelta(out, ref, e)
			}
			if err != nil {
				mu.Lock()
				failed[i] = ref
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report failures through failed
	prog.Close()

	// bundle.json records whatever did succeed.
	closeErr := w.Close()
	stored, _ := w.StoredBytes()
	fmt.Fprintf(o.Stderr, "bundled %d of %d images in %s: %s pulled, %s of unique blobs in %s\n",
		len(list.Refs)-len(failed), len(list.Refs), progress.Duration(time.Since(start)),
		progress.Bytes(prog.Pulled()), progress.Bytes(stored), o.Out)
	if delta != nil {
		reportDeltaTotal(o.Stderr, delta, stored, w.Assumes())
	}
	if closeErr != nil {
		return closeErr
	}
	if signer != nil {
		// Signed even when some images failed: only what this run wrote, or nothing.
		if err := w.Sign(signer); err != nil {
			return err
		}
		fmt.Fprintf(o.Stderr, "signed %s/%s with %s\n", o.Out, bundle.SignatureFile, o.SignKey)
	}
	if len(failed) > 0 {
		var names []string
		for _, i := range slices.Sorted(maps.Keys(failed)) {
			names = append(names, failed[i])
		}
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %d of %d images not bundled: %s", len(failed), len(list.Refs), strings.Join(names, ", "))
		}
		return fmt.Errorf("%d of %d images failed: %s", len(failed), len(list.Refs), strings.Join(names, ", "))
	}
	return nil
}

// reportAttached says what was checked and bundled beside an image.
func reportAttached(out io.Writer, ref string, p pull.Pulled) {
	var b strings.Builder
	if p.SignedBy != nil {
		fmt.Fprintf(&b, "  %s: signature by key %s verified\n", ref, p.SignedBy)
	}
	for _, e := range p.Attached {
		fmt.Fprintf(&b, "  %s: bundled %s\n", ref, e.Reference)
	}
	for _, s := range p.Skipped {
		fmt.Fprintf(&b, "  %s: skipped %s\n", ref, s)
	}
	if b.Len() > 0 {
		io.WriteString(out, b.String())
	}
}

// syncWriter serializes writes, so that lines from concurrent pulls never interleave.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
