package siteconfig

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
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
	// Registry says how nodes reach the site registry.
	Registry TalosRegistry `json:"registry"`
	// Patches are extra machine config patches (objects, or YAML strings that may hold several
	// documents), applied after the mirror patch.
	Patches []any `json:"patches,omitempty"`
}

// TalosRegistry is how containerd on the nodes talks to the site registry.
type TalosRegistry struct {
	// Scheme is http or https.
	Scheme string `json:"scheme"`
	// CA is the PEM certificate of the registry's issuer (https only).
	CA string `json:"ca,omitempty"`
	// InsecureSkipVerify skips certificate checks (https only; not recommended).
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// Username authenticates pulls; its password is the secret registryPassword.
	Username string `json:"username,omitempty"`
}

// Bootstrap is the engineer's laptop serving the image bundle while the in-cluster registry
// does not exist yet; it is appended as the last endpoint of every mirror.
type Bootstrap struct {
	Endpoint string `json:"endpoint,omitempty"`
}

// Talos defaults.
const (
	DefaultTalosVersion = "v1.12.11"
	DefaultApplyMode    = "auto"
	DefaultScheme       = "http"
	// Versions this project renders for.
	MinTalosMinor = 7
	MaxTalosMinor = 13
	// FirstDocumentsMinor is the first Talos minor that takes RegistryMirrorConfig documents.
	FirstDocumentsMinor = 12
)

// DefaultUpstreams are mirrored on every site.
var DefaultUpstreams = []string{"docker.io", "ghcr.io", "registry.k8s.io", "quay.io"}

var (
	applyModes = []string{"auto", "no_reboot", "reboot", "staged", "staged_if_needing_reboot"}
	hostLabel  = `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
	hostPortRE = regexp.MustCompile(`^(` + hostLabel + `(\.` + hostLabel + `)*|\[[0-9a-f:]+\])(:[0-9]{1,5})?$`)
	versionRE  = regexp.MustCompile(`^v?(\d+)\.(\d+)(\.\d+)?$`)
)

// TalosMinor returns the minor version of a Talos version such as v1.12.3.
func TalosMinor(version string) (int, error) {
	m := versionRE.FindStringSubmatch(version)
	if m == nil || m[1] != "1" {
		return 0, fmt.Errorf("%q is not a Talos version like v1.12.3", version)
	}
	return strconv.Atoi(m[2])
}

// UsesDocuments reports whether the Talos version configures mirrors with
// RegistryMirrorConfig documents rather than machine.registries.
func (t *Talos) UsesDocuments() bool {
	minor, err := TalosMinor(t.Version)
	return err == nil && minor >= FirstDocumentsMinor
}

// RegistryURL is the base URL of the site registry on one node.
func (c *Config) RegistryURL(nodeEndpoint string) string {
	return c.Talos.Registry.Scheme + "://" + nodeEndpoint
}

func defaultTalos(c *Config) {
	t := &c.Talos
	if t.Version == "" {
		t.Version = DefaultTalosVersion
	}
	if t.ApplyMode == "" {
		t.ApplyMode = DefaultApplyMode
	}
	if t.Upstreams == nil {
		t.Upstreams = append([]string(nil), DefaultUpstreams...)
	}
	if t.Registry.Scheme == "" {
		t.Registry.Scheme = DefaultScheme
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
	minor, err := TalosMinor(t.Version)
	switch {
	case err != nil:
		v.fail("talos.version", "%v", err)
	case minor < MinTalosMinor || minor > MaxTalosMinor:
		v.fail("talos.version", "%s is not supported: this release renders mirrors for Talos v1.%d to v1.%d",
			t.Version, MinTalosMinor, MaxTalosMinor)
	}
	if !contains(applyModes, t.ApplyMode) {
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
		if msg := hostPortProblem(up); msg != "" {
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
	r := &t.Registry
	switch r.Scheme {
	case "http":
		if r.CA != "" || r.InsecureSkipVerify {
			v.fail("talos.registry", "ca and insecureSkipVerify apply to https only; the registry is served over plain http, and a TLS block on an http endpoint breaks Talos' own image pulls")
		}
	case "https":
		if r.CA != "" {
			if block, _ := pem.Decode([]byte(r.CA)); block == nil {
				v.fail("talos.registry.ca", "not a PEM certificate")
			} else if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				v.fail("talos.registry.ca", "not a valid certificate: %v", err)
			}
		}
		if r.InsecureSkipVerify {
			v.warn("talos.registry.insecureSkipVerify is true: nodes accept any certificate from the registry")
		}
	default:
		v.fail("talos.registry.scheme", "%q is not http or https", r.Scheme)
	}
	if r.Username != "" && c.Secrets.RegistryPassword.IsZero() {
		v.fail(KeyRegistryPassword, "required with talos.registry.username: set it with `pulumi config set --secret %s <value>`", KeyRegistryPassword)
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
	for i, node := range c.RegistryEndpoints() {
		if u.Host == node {
			v.fail("bootstrap.endpoint", "%q is the registry endpoint of nodes[%d]; the bootstrap endpoint must be another machine (the laptop)", ep, i)
		}
	}
}

// HostPortProblem explains why s is not a registry host[:port] (a mirror key, a TLS or auth
// config name), or returns "" when it is one.
func HostPortProblem(s string) string { return hostPortProblem(s) }

func hostPortProblem(s string) string {
	if strings.Contains(s, "://") {
		u, _ := url.Parse(s)
		host := s
		if u != nil && u.Host != "" {
			host = u.Host
		}
		return fmt.Sprintf("%q is a URL; write the registry host[:port] as it appears in image references (%s): Talos silently ignores URL keys", s, host)
	}
	if !hostPortRE.MatchString(s) {
		return fmt.Sprintf("%q is not a registry host[:port] (lowercase, e.g. docker.io or 10.20.0.11:32000)", s)
	}
	if _, port, err := net.SplitHostPort(s); err == nil {
		if n, _ := strconv.Atoi(port); n < 1 || n > 65535 {
			return fmt.Sprintf("%q has an invalid port", s)
		}
	}
	return ""
}

// patches checks user patches for the mistakes Talos accepts silently or that break pulls:
// URL-form mirror and config keys, endpoints without a scheme, TLS settings for a host
// reached over plain http, and mirrors that would replace the ones this stack manages.
func (v *validator) patches(c *Config) {
	managed := map[string]bool{}
	for _, up := range c.Talos.Upstreams {
		managed[up] = true
	}
	for _, ep := range c.RegistryEndpoints() {
		managed[ep] = true
	}
	httpHosts := map[string]bool{}
	if c.Talos.Registry.Scheme == "http" {
		for _, ep := range c.RegistryEndpoints() {
			httpHosts[ep] = true
		}
	}
	type tlsUse struct{ field, host string }
	var tlsUses []tlsUse
	for i, p := range c.Talos.Patches {
		docs, err := patchDocuments(p)
		if err != nil {
			v.fail(fmt.Sprintf("talos.patches[%d]", i), "%v", err)
			continue
		}
		for d, doc := range docs {
			f := fmt.Sprintf("talos.patches[%d]", i)
			if len(docs) > 1 {
				f = fmt.Sprintf("talos.patches[%d] (document %d)", i, d+1)
			}
			switch doc["kind"] {
			case "RegistryMirrorConfig":
				name, _ := doc["name"].(string)
				v.mirrorKey(f+".name", name, managed)
				eps, _ := doc["endpoints"].([]any)
				for j, e := range eps {
					m, _ := e.(map[string]any)
					u, _ := m["url"].(string)
					v.mirrorEndpoint(fmt.Sprintf("%s.endpoints[%d].url", f, j), u, httpHosts)
				}
			case "RegistryTLSConfig":
				name, _ := doc["name"].(string)
				if msg := hostPortProblem(name); msg != "" {
					v.fail(f+".name", "%s", msg)
				}
				tlsUses = append(tlsUses, tlsUse{f, name})
			case nil:
				regs := nested(doc, "machine", "registries")
				mirrors, _ := regs["mirrors"].(map[string]any)
				for _, key := range sortedKeys(mirrors) {
					mf := fmt.Sprintf("%s.machine.registries.mirrors[%q]", f, key)
					v.mirrorKey(mf, key, managed)
					m, _ := mirrors[key].(map[string]any)
					eps, _ := m["endpoints"].([]any)
					for j, e := range eps {
						s, _ := e.(string)
						v.mirrorEndpoint(fmt.Sprintf("%s.endpoints[%d]", mf, j), s, httpHosts)
					}
				}
				configs, _ := regs["config"].(map[string]any)
				for _, key := range sortedKeys(configs) {
					cf := fmt.Sprintf("%s.machine.registries.config[%q]", f, key)
					host := key
					if msg := hostPortProblem(key); msg != "" {
						v.fail(cf, "%s", msg)
						// Still check its TLS block against the host the URL names.
						if u, err := url.Parse(key); err == nil && u.Host != "" {
							host = u.Host
						}
					}
					if cfg, _ := configs[key].(map[string]any); cfg["tls"] != nil {
						tlsUses = append(tlsUses, tlsUse{cf + ".tls", host})
					}
				}
			}
		}
	}
	for _, u := range tlsUses {
		if httpHosts[u.host] {
			v.fail(u.field, "%s is reached over plain http: a TLS block (ca, clientIdentity, insecureSkipVerify) applies to https endpoints only, and on an http registry it breaks Talos' own image pulls", u.host)
		}
	}
}

func (v *validator) mirrorKey(field, key string, managed map[string]bool) {
	if msg := hostPortProblem(key); msg != "" && key != "*" {
		v.fail(field, "%s", msg)
		return
	}
	if managed[key] {
		v.fail(field, "mirror %q is managed by this stack (talos.upstreams and the node endpoints); remove it from the patch", key)
		return
	}
	if v.patchMirrors == nil {
		v.patchMirrors = map[string]string{}
	}
	if other, dup := v.patchMirrors[key]; dup {
		v.fail(field, "mirror %q is defined twice (also at %s)", key, other)
	}
	v.patchMirrors[key] = field
}

// mirrorEndpoint checks one endpoint URL and records plain-http hosts.
func (v *validator) mirrorEndpoint(field, endpoint string, httpHosts map[string]bool) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.fail(field, "%q needs a scheme: http://host:port or https://host:port", endpoint)
		return
	}
	if u.Scheme == "http" {
		httpHosts[u.Host] = true
	}
}

// patchDocuments parses one patch: an object, or a YAML string of one or more documents.
func patchDocuments(p any) ([]map[string]any, error) {
	switch p := p.(type) {
	case map[string]any:
		return []map[string]any{p}, nil
	case string:
		var docs []map[string]any
		for _, part := range SplitYAMLDocuments([]byte(p)) {
			var doc map[string]any
			if err := yaml.UnmarshalStrict(part, &doc); err != nil {
				return nil, fmt.Errorf("not a YAML object: %v", err)
			}
			docs = append(docs, doc)
		}
		return docs, nil
	default:
		return nil, fmt.Errorf("a patch is an object or a YAML string, not %T", p)
	}
}

// SplitYAMLDocuments splits a YAML stream at document separators: lines that are exactly
// "---" at column 0 (so "-----END CERTIFICATE-----" inside an indented block is not one).
// Empty documents are dropped.
func SplitYAMLDocuments(b []byte) [][]byte {
	var docs [][]byte
	var cur []string
	flush := func() {
		doc := strings.Join(cur, "\n")
		if strings.TrimSpace(doc) != "" {
			docs = append(docs, []byte(doc+"\n"))
		}
		cur = cur[:0]
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimRight(line, " \t\r") == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

func nested(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		next, _ := m[p].(map[string]any)
		if next == nil {
			return nil
		}
		m = next
	}
	return m
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
