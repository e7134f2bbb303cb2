package siteconfig

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"

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

// Bootstrap is the engineer's laptop serving the image bundle while the in-cluster registry
// does not exist yet; it is appended as the last endpoint of every mirror.
type Bootstrap struct {
	Endpoint string `json:"endpoint,omitempty"`
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
	return talosconfig.Render(c.Mirrors(ca, pullPassword), c.Talos.Version)
}

// MirrorSpec is what the site's Talos mirrors are built from (talosconfig.Build): the pull
// endpoint of every node over the registry's scheme, the site CA and the pull identity.
func (c *Config) MirrorSpec(ca, pullPassword string) talosconfig.Spec {
	s := talosconfig.Spec{
		Upstreams: c.Talos.Upstreams,
		Nodes:     c.RegistryEndpoints(),
		Scheme:    c.RegistryScheme(),
		Bootstrap: c.Bootstrap.Endpoint,
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
	ep := c.Bootstrap.Endpoint
	if ep == "" {
		return
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		v.fail("bootstrap.endpoint", "%q must be http(s)://host:port (the laptop serving the bundle)", ep)
		return
	}
	boot, bootErr := netip.ParseAddrPort(u.Host)
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
