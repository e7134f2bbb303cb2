package siteconfig

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"airgap-site/mirror"
)

// KeyImages is the stack config key of the site's images.
const KeyImages = "images"

// Images are the site's images: copied from the offline bundle into the site registry, or
// built at the site.
type Images struct {
	// Bundle is the bundle directory written by `airgap bundle` (relative to the project).
	Bundle string `json:"bundle,omitempty"`
	// TrustedKeys are the public keys (cosign.pub) whose signature the bundle must carry:
	// each the PEM text itself, or the path of a .pub file (relative to the project).
	TrustedKeys []string `json:"trustedKeys,omitempty"`
	// AllowUnsigned accepts a bundle that no trusted key signed: not recommended; every
	// preview warns while it is set.
	AllowUnsigned bool `json:"allowUnsigned,omitempty"`
	// AllowDowngrade accepts, for the up it is set for, a bundle whose sequence is lower
	// than the highest the stack accepted before (a rollback to older images); every
	// preview warns while it is set. The highest sequence stays recorded.
	AllowDowngrade bool `json:"allowDowngrade,omitempty"`
	// Registry is where images are pushed first (host:port); the node endpoints follow, in
	// node order, and a push fails over from one to the next. Every endpoint reaches the same
	// registry, so changing this (or the node order) never moves or deletes an image.
	Registry string `json:"registry,omitempty"`
	// Retain keeps images in the registry when they leave the list: nothing is ever deleted
	// (KeepPrevious does not apply).
	Retain bool `json:"retain,omitempty"`
	// KeepPrevious is how many previous versions of each repository stay in the registry
	// for a rollback (a tag moved or an image left the list); older ones are deleted and a
	// garbage collection frees their blobs. Unset means DefaultKeepPrevious; 0 keeps none.
	KeepPrevious *int `json:"keepPrevious,omitempty"`
	// Jobs bounds parallel blob transfers per image.
	Jobs int `json:"jobs,omitempty"`
	// RetrySeconds is how long a failing registry (5xx, refused connections, a pod restart)
	// is retried before an image fails; 0 means the provider's default (at least 60 s).
	RetrySeconds int `json:"retrySeconds,omitempty"`
	// TimeoutSeconds bounds one request to the registry that makes no progress (a hung
	// registry); 0 means the provider's default.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
	// MaxBytesPerSecond caps the total upload rate of an up (every copy together), so the
	// factory's own traffic keeps the rest of a shared link; 0 means no cap.
	MaxBytesPerSecond int64 `json:"maxBytesPerSecond,omitempty"`
	// LinkBytesPerSecond is the rate, in bytes per second, at which the site's link carries an
	// update from the office (a throttled LTE router's upload): with it, previews say how long
	// the bytes an up will send take at that rate. Unset, they give the bytes only. It throttles
	// nothing.
	LinkBytesPerSecond *int64 `json:"linkBytesPerSecond,omitempty"`
	// Docker is the Docker daemon that builds the images with a build context.
	Docker *Docker `json:"docker,omitempty"`
	// List are the images, by original reference.
	List []ImageEntry `json:"list"`
}

// Docker is the daemon used for site-built images.
type Docker struct {
	Host string `json:"host"`
}

// ImageEntry is one image: a reference string, or an object with a build context.
type ImageEntry struct {
	Image string `json:"image"`
	Build *Build `json:"build,omitempty"`
}

// Build is a Docker build done at the site (pulumi-docker).
type Build struct {
	Context    string            `json:"context"`
	Dockerfile string            `json:"dockerfile,omitempty"`
	Args       map[string]string `json:"args,omitempty"`
	Platform   string            `json:"platform,omitempty"`
}

// UnmarshalJSON accepts "ref" or {image: ref, build: {...}}.
func (e *ImageEntry) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		e.Image = s
		return nil
	}
	type plain ImageEntry
	var p plain
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*e = ImageEntry(p)
	return nil
}

func (v *validator) images(c *Config) {
	im := &c.Images
	upstreams := map[string]bool{}
	for _, u := range c.Talos.Upstreams {
		upstreams[u] = true
	}
	nodes := map[string]bool{}
	for _, ep := range c.RegistryEndpoints() {
		nodes[ep] = true
	}
	seen := map[string]int{}
	needsBundle, needsDocker := false, false
	for i, e := range im.List {
		f := fmt.Sprintf("images.list[%d]", i)
		t, err := mirror.TargetOf(e.Image)
		if e.Image == "" {
			v.fail(f, "image is required")
			continue
		}
		if err != nil {
			v.fail(f, "%v", err)
			continue
		}
		if j, dup := seen[t.Reference]; dup {
			v.fail(f, "%s is also images.list[%d]", t.Reference, j)
		}
		seen[t.Reference] = i
		if !upstreams[t.Upstream] && !nodes[t.Upstream] {
			v.fail(f, "%s comes from %s, which has no mirror: add %q to talos.upstreams, or nodes cannot pull it by this name",
				e.Image, t.Upstream, t.Upstream)
		}
		if e.Build != nil {
			needsDocker = true
			if e.Build.Context == "" {
				v.fail(f+".build.context", "required: the directory to build")
			}
		} else {
			needsBundle = true
		}
	}
	if needsBundle && im.Bundle == "" {
		v.fail("images.bundle", "required: the bundle directory written by `airgap bundle` at the office")
	}
	if im.Bundle != "" && len(im.TrustedKeys) == 0 && !im.AllowUnsigned {
		v.fail("images.trustedKeys", "required with images.bundle: the public keys (cosign.pub) the bundle must be signed by (airgap bundle --sign-key), or, not recommended, images.allowUnsigned: true")
	}
	if im.AllowUnsigned {
		v.warn("images.allowUnsigned is true: a bundle no trusted key signed is accepted; anyone who can change it on its way to the site decides what the nodes run")
	}
	if im.AllowDowngrade {
		v.warn("images.allowDowngrade is true: a bundle older than the newest this site accepted is accepted, and images may go back to older digests; unset it after this up")
	}
	for i, k := range im.TrustedKeys {
		if k == "" {
			v.fail(fmt.Sprintf("images.trustedKeys[%d]", i), "empty: the PEM public key, or the path of a .pub file")
		}
	}
	if needsDocker && (im.Docker == nil || im.Docker.Host == "") {
		v.fail("images.docker.host", "required for images with a build context: the Docker daemon that builds them, e.g. unix:///var/run/docker.sock")
	}
	if im.Registry != "" {
		if msg := mirror.HostPortProblem(im.Registry); msg != "" {
			v.fail("images.registry", "%s", msg)
		}
	}
	if im.Jobs < 0 || im.Jobs > 64 {
		v.fail("images.jobs", "%d: between 1 and 64 (0 means 4)", im.Jobs)
	}
	if im.RetrySeconds < 0 || im.RetrySeconds > 3600 {
		v.fail("images.retrySeconds", "%d: between 1 and 3600 seconds (0 means the default, at least 60)", im.RetrySeconds)
	}
	if im.TimeoutSeconds < 0 || im.TimeoutSeconds > 3600 {
		v.fail("images.timeoutSeconds", "%d: between 1 and 3600 seconds (0 means the default)", im.TimeoutSeconds)
	}
	if k := im.KeepPrevious; k != nil && (*k < 0 || *k > 100) {
		v.fail("images.keepPrevious", "%d: previous versions kept per repository, between 0 and 100", *k)
	}
	if im.MaxBytesPerSecond < 0 || (im.MaxBytesPerSecond > 0 && im.MaxBytesPerSecond < 16<<10) {
		v.fail("images.maxBytesPerSecond", "%d: bytes per second, at least 16384 (0 means no cap)", im.MaxBytesPerSecond)
	}
	v.linkRate(im)
}

// DefaultKeepPrevious is images.keepPrevious unset: one rollback per repository.
const DefaultKeepPrevious = 1

// Kept is images.keepPrevious with its default.
func (im Images) Kept() int {
	if im.KeepPrevious == nil {
		return DefaultKeepPrevious
	}
	return *im.KeepPrevious
}

// ImageRegistry is where images are pushed first: images.registry, or the first node's
// endpoint.
func (c *Config) ImageRegistry() string {
	if eps := c.PushEndpoints(); len(eps) > 0 {
		return eps[0]
	}
	return ""
}

// PushEndpoints are the addresses images are pushed to, in the order they are tried:
// images.registry (if set), then every node's write endpoint (registry.pushNodePort). They
// all reach one registry.
func (c *Config) PushEndpoints() []string {
	var eps []string
	if c.Images.Registry != "" {
		eps = append(eps, c.Images.Registry)
	}
	for _, n := range c.Nodes {
		ep := hostPort(n.IP, c.Registry.PushNodePort)
		if !slices.Contains(eps, ep) {
			eps = append(eps, ep)
		}
	}
	return eps
}

// BundleDir is the image bundle's directory, a relative images.bundle taken from projectDir;
// "" when the site has none.
func (c *Config) BundleDir(projectDir string) string {
	dir := c.Images.Bundle
	if dir != "" && !filepath.IsAbs(dir) && projectDir != "" {
		dir = filepath.Join(projectDir, dir)
	}
	return dir
}

// Bundled are the images of the list that come from the bundle (not built at the site), by
// normalized reference, in list order.
func (im Images) Bundled() ([]string, error) {
	var refs []string
	for i, e := range im.List {
		if e.Build != nil {
			continue
		}
		t, err := mirror.TargetOf(e.Image)
		if err != nil {
			return nil, fmt.Errorf("images.list[%d]: %w", i, err)
		}
		refs = append(refs, t.Reference)
	}
	return refs, nil
}
