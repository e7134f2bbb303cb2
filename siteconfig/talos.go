package siteconfig

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"airgap-site/mirror"
	"airgap-site/talosconfig"
)

// Stack config keys of the Talos part.
const (
	KeyTalos     = "talos"
	KeyBootstrap = "bootstrap"
)

// Talos configures the nodes' machine configuration, above all their registry mirrors.
type Talos struct {
	// Manage applies machine configuration to every node through pulumi-talos. When false
	// (the dev stack, or a cluster managed elsewhere) the mirror patch is only rendered and
	// exported.
	Manage bool `json:"manage"`
	// Version of Talos on the nodes: it picks the config generation (machine.registries up to
	// v1.11, RegistryMirrorConfig documents from v1.12).
	Version string `json:"version"`
	// ClusterName and ClusterEndpoint feed machine configuration generation.
	ClusterName       string `json:"clusterName"`
	ClusterEndpoint   string `json:"clusterEndpoint"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// ApplyMode is how ConfigurationApply applies changes: auto, no_reboot, reboot, staged.
	ApplyMode string `json:"applyMode"`
	// BootstrapCluster bootstraps etcd on the first control-plane node (a new site).
	BootstrapCluster bool `json:"bootstrapCluster"`
	// Upstreams are the registries the site's images come from, as host[:port].
	Upstreams []string `json:"upstreams"`
	// Patches are extra machine config patches (objects, or YAML strings that may hold several
	// documents), applied after the mirror patch.
	Patches []any `json:"patches,omitempty"`
}

// Bootstrap is the engineer's laptop serving the image bundle (`airgap serve`) while the
// in-cluster registry does not exist yet; it is appended as the last endpoint of every mirror
// of the bootstrap patch, never of the full patch the stack exports once the registry is
// Ready.
type Bootstrap struct {
	// Endpoint is https://<laptop IP>:<port>; http only on a registry.plainHTTP site.
	Endpoint string `json:"endpoint,omitempty"`
	// CA is the bootstrap CA `airgap serve` printed (its --tls-dir/ca.crt): PEM text, or the
	// path of the file (relative to the project), which ResolveBootstrapCA reads. The
	// bootstrap patch carries it to the nodes as the TLS CA of the endpoint's host:port.
	CA string `json:"ca,omitempty"`
}

// Talos defaults. The Talos version table is talosconfig's.
const (
	DefaultApplyMode = "auto"
)

// DefaultUpstreams are mirrored on every site.
var DefaultUpstreams = []string{"docker.io", "ghcr.io", "registry.k8s.io", "quay.io"}

var applyModes = []string{"auto", "no_reboot", "reboot", "staged", "staged_if_needing_reboot"}

// UsesDocuments reports whether the nodes' Talos version configures mirrors with
// RegistryMirrorConfig documents rather than machine.registries.
func (t *Talos) UsesDocuments() bool { return talosconfig.UsesDocuments(t.Version) }

// Mirrors are the site's Talos registry mirrors; ca (PEM) and pullPassword are the generated
// credentials from the stack's state, or "" before the first up.
func (c *Config) Mirrors(ca, pullPassword string) *talosconfig.Mirrors {
	return talosconfig.Build(c.MirrorSpec(ca, pullPassword))
}

// MirrorPatch is the machine config patch of the site's mirrors for its Talos version, with
// the given credentials: what talos.manage applies to every node and the stack exports as
// talosMirrorPatch. Without credentials (before the first up) it is the bootstrap patch
// `airgap site patch` prints: the nodes then pull from the laptop until they get the full one.
func (c *Config) MirrorPatch(ca, pullPassword string) ([]byte, error) {
	if c.Bootstrap.CA != "" && !isPEM(c.Bootstrap.CA) {
		return nil, &FieldError{Field: "bootstrap.ca", Problem: fmt.Sprintf("%q: the file was not read (ResolveBootstrapCA)", c.Bootstrap.CA)}
	}
	return talosconfig.Render(c.Mirrors(ca, pullPassword), c.Talos.Version)
}

// ResolveBootstrapCA reads bootstrap.ca when it is the path of a file (~/ is the home
// directory, relative paths are against projectDir) and keeps its PEM text in its place; PEM text is checked as it is. Either must
// be one CA certificate.
func (c *Config) ResolveBootstrapCA(projectDir string) error {
	ca := c.Bootstrap.CA
	if ca == "" || isPEM(ca) {
		return nil
	}
	path := ca
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return &FieldError{Field: "bootstrap.ca", Problem: fmt.Sprintf("expanding %q: %v", ca, err)}
		}
		path = filepath.Join(home, rest)
	}
	if !filepath.IsAbs(path) && projectDir != "" {
		path = filepath.Join(projectDir, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return &FieldError{Field: "bootstrap.ca", Problem: fmt.Sprintf("reading the bootstrap CA: %v", err)}
	}
	if msg := caProblem(string(b)); msg != "" {
		return &FieldError{Field: "bootstrap.ca", Problem: fmt.Sprintf("%s: %s", path, msg)}
	}
	c.Bootstrap.CA = string(b)
	return nil
}

func isPEM(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN") }

// caProblem says what is wrong with a PEM CA certificate, or "".
func caProblem(text string) string {
	b, rest := pem.Decode([]byte(text))
	if b == nil || b.Type != "CERTIFICATE" {
		return "not a PEM certificate (the ca.crt `airgap serve` printed)"
	}
	if strings.TrimSpace(string(rest)) != "" {
		return "more than one PEM block; give the one CA certificate"
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return fmt.Sprintf("parsing the certificate: %v", err)
	}
	if !cert.IsCA {
		return "not a CA certificate (give ca.crt, not tls.crt)"
	}
	return ""
}

// ReadyMirrorPatch is the machine config patch once the site registry is Ready: MirrorPatch
// without the bootstrap endpoint (and its CA), whatever bootstrap.endpoint says. It is the
// stack's talosMirrorPatch output: a forgotten laptop endpoint must not stay in every mirror
// as a fallback containerd uses whenever the registry is down.
func (c *Config) ReadyMirrorPatch(ca, pullPassword string) ([]byte, error) {
	s := c.MirrorSpec(ca, pullPassword)
	s.Bootstrap, s.BootstrapCA = "", ""
	return talosconfig.Render(talosconfig.Build(s), c.Talos.Version)
}

// MirrorSpec is what the site's Talos mirrors are built from (talosconfig.Build): the pull
// endpoint of every node over the registry's scheme, the site CA and the pull identity, and
// the bootstrap endpoint with its CA (bootstrap.ca, as PEM: see ResolveBootstrapCA).
func (c *Config) MirrorSpec(ca, pullPassword string) talosconfig.Spec {
	s := talosconfig.Spec{
		Upstreams: c.Talos.Upstreams,
		Nodes:     c.RegistryEndpoints(),
		Scheme:    c.RegistryScheme(),
		Bootstrap: c.Bootstrap.Endpoint,
	}
	if isPEM(c.Bootstrap.CA) {
		s.BootstrapCA = c.Bootstrap.CA
	}
	if !c.Registry.PlainHTTP {
		s.CA = ca
		if pullPassword != "" {
			s.Username, s.Password = PullUser, pullPassword
		}
	}
	return s
}

func defaultTalos(c *Config) {
	t := &c.Talos
	if t.Version == "" {
		t.Version = talosconfig.DefaultVersion
	}
	t.Version = talosconfig.NormalizeVersion(t.Version)
	if t.ApplyMode == "" {
		t.ApplyMode = DefaultApplyMode
	}
	if t.Upstreams == nil {
		t.Upstreams = append([]string(nil), DefaultUpstreams...)
	}
	if t.ClusterName == "" {
		t.ClusterName = c.Site
	}
	if t.ClusterEndpoint == "" {
		for _, n := range c.Nodes {
			if n.Role == RoleControlPlane && n.IP != "" {
				t.ClusterEndpoint = "https://" + hostPort(n.IP, 6443)
				break
			}
		}
	}
}

func (v *validator) talos(c *Config) {
	t := &c.Talos
	if _, err := talosconfig.CheckVersion(t.Version); err != nil {
		v.fail("talos.version", "%v", err)
	}
	if !slices.Contains(applyModes, t.ApplyMode) {
		v.fail("talos.applyMode", "%q is not one of %v", t.ApplyMode, applyModes)
	}
	if t.Manage {
		hasControlPlane := false
		for _, n := range c.Nodes {
			hasControlPlane = hasControlPlane || n.Role == RoleControlPlane
		}
		if !hasControlPlane {
			v.fail("talos.manage", "needs a node with role controlplane: it is bootstrapped and serves the kubeconfig")
		}
		if u, err := url.Parse(t.ClusterEndpoint); err != nil || u.Scheme != "https" || u.Host == "" {
			v.fail("talos.clusterEndpoint", "%q must be https://<control-plane address>:6443 (needed when talos.manage is true)", t.ClusterEndpoint)
		}
		if !dnsLabel.MatchString(t.ClusterName) {
			v.fail("talos.clusterName", "%q is not a DNS label", t.ClusterName)
		}
	}
	seen := map[string]int{}
	for i, up := range t.Upstreams {
		f := fmt.Sprintf("talos.upstreams[%d]", i)
		if msg := mirror.UpstreamProblem(up); msg != "" {
			v.fail(f, "%s", msg)
			continue
		}
		if j, dup := seen[up]; dup {
			v.fail(f, "%q is also talos.upstreams[%d]", up, j)
		}
		seen[up] = i
	}
	for _, ep := range c.RegistryEndpoints() {
		if j, dup := seen[ep]; dup {
			v.fail(fmt.Sprintf("talos.upstreams[%d]", j), "%q is a node's registry endpoint, which is mirrored already", ep)
		}
	}
	v.bootstrap(c)
	v.patches(c)
}

func (v *validator) bootstrap(c *Config) {
	ep, ca := c.Bootstrap.Endpoint, c.Bootstrap.CA
	if ep == "" {
		if ca != "" {
			v.fail("bootstrap.ca", "set without bootstrap.endpoint; remove it with the endpoint (pulumi config rm bootstrap)")
		}
		return
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		v.fail("bootstrap.endpoint", "%q must be https://host:port (the laptop serving the bundle with airgap serve)", ep)
		return
	}
	boot, bootErr := netip.ParseAddrPort(u.Host)
	v.warn("bootstrap.endpoint is set (%s): the bootstrap patch ends every mirror with the laptop. Once the site registry is Ready (after the first up) remove it (pulumi config rm bootstrap) and run up again; the exported talosMirrorPatch already leaves it out", ep)
	switch {
	case u.Scheme == "http" && !c.Registry.PlainHTTP:
		v.fail("bootstrap.endpoint", "%q is plain http: anyone on the site network could answer in the laptop's place with images of their own; use https://%s with bootstrap.ca, the CA airgap serve printed (plain http only on a registry.plainHTTP site)", ep, u.Host)
	case u.Scheme == "http" && ca != "":
		v.fail("bootstrap.ca", "applies to an https bootstrap.endpoint only; %q is plain http", ep)
	case u.Scheme == "https" && bootErr != nil:
		v.fail("bootstrap.endpoint", "%q: the host must be the laptop's IP address, as airgap serve --addr takes it (its certificate names that address)", ep)
	case u.Scheme == "https" && ca == "":
		v.fail("bootstrap.ca", "required with an https bootstrap.endpoint: the bootstrap CA airgap serve printed (ca.crt in its --tls-dir), as a path or PEM text")
	case u.Scheme == "https" && isPEM(ca):
		if msg := caProblem(ca); msg != "" {
			v.fail("bootstrap.ca", "%s", msg)
		}
	}
	for i, node := range c.RegistryEndpoints() {
		// Compare addresses, not spellings: [FD00::11]:32000 is [fd00::11]:32000.
		if n, err := netip.ParseAddrPort(node); u.Host == node || bootErr == nil && err == nil && boot.Addr().Unmap() == n.Addr().Unmap() && boot.Port() == n.Port() {
			v.fail("bootstrap.endpoint", "%q is the registry endpoint of nodes[%d]; the bootstrap endpoint must be another machine (the laptop)", ep, i)
		}
	}
}

// patches checks the user's patches with talosconfig's patch rules, against the mirrors this
// stack manages and the node endpoints it serves over http.
func (v *validator) patches(c *Config) {
	rules := talosconfig.Rules{Managed: map[string]bool{}, HTTPHosts: map[string]bool{}}
	for _, up := range c.Talos.Upstreams {
		rules.Managed[up] = true
	}
	for _, ep := range c.RegistryEndpoints() {
		rules.Managed[ep] = true
		if c.Registry.PlainHTTP {
			rules.HTTPHosts[ep] = true
		}
	}
	if u, err := url.Parse(c.Bootstrap.Endpoint); err == nil && u.Scheme == "http" {
		rules.HTTPHosts[u.Host] = true
	}
	var docs []talosconfig.PatchDocument
	for i, p := range c.Talos.Patches {
		d, err := patchDocuments(fmt.Sprintf("talos.patches[%d]", i), p)
		if err != nil {
			v.fail(fmt.Sprintf("talos.patches[%d]", i), "%v", err)
			continue
		}
		docs = append(docs, d...)
	}
	for _, p := range talosconfig.Check(docs, rules) {
		v.fail(p.Where, "%s", p.Message)
	}
}

// patchDocuments reads one patch: an object, or a YAML string of one or more documents.
func patchDocuments(where string, p any) ([]talosconfig.PatchDocument, error) {
	switch p := p.(type) {
	case map[string]any:
		return []talosconfig.PatchDocument{{Where: where, Body: p}}, nil
	case string:
		docs, err := talosconfig.SplitPatch(where, []byte(p))
		if err != nil {
			return nil, err
		}
		return docs, nil
	default:
		return nil, fmt.Errorf("a patch is an object or a YAML string, not %T", p)
	}
}
