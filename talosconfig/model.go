package talosconfig

import (
	"net/url"

	"airgap-site/mirror"
)

// Mirrors is everything Talos needs to know about registries on a site.
type Mirrors struct {
	// Mirrors in a stable order: upstreams as configured, then the node endpoints.
	Mirrors []Mirror
	// Hosts are per-endpoint TLS and auth settings, only ever for endpoints that need them.
	Hosts []Host
}

// Mirror redirects pulls for one registry name.
type Mirror struct {
	// Key is the registry as it appears in image references: host[:port].
	Key string
	// Endpoints in the order containerd tries them.
	Endpoints []Endpoint
	// OverridePath: the endpoint path is the API root (it carries /v2/<upstream>).
	OverridePath bool
	// SkipFallback: never fall back to the upstream itself; the site has no internet.
	SkipFallback bool
}

// Endpoint is one URL a mirror pulls from.
type Endpoint struct {
	URL string
	// Host is the URL's host:port, the key TLS and auth settings are written under.
	Host string
	// Bootstrap marks the laptop endpoint appended during bootstrap.
	Bootstrap bool
}

// Host holds TLS and auth settings of one https endpoint host.
type Host struct {
	Host               string
	CA                 string // PEM
	InsecureSkipVerify bool
	Username           string
	Password           string
}

// HasAuth reports whether any host carries credentials, which makes the rendered patch secret.
func (m *Mirrors) HasAuth() bool {
	for _, h := range m.Hosts {
		if h.Password != "" {
			return true
		}
	}
	return false
}

// Spec is what the mirrors of a site are built from: its upstreams, the registry endpoint
// of every node and how nodes reach it.
type Spec struct {
	// Upstreams are the registries the site's images come from, host[:port].
	Upstreams []string
	// Nodes are the registry endpoints (host:port) of every node, in node order.
	Nodes []string
	// Scheme is http or https: how containerd talks to the site registry.
	Scheme string
	// CA (PEM) and InsecureSkipVerify apply to https only.
	CA                 string
	InsecureSkipVerify bool
	// Username and Password are pull credentials.
	Username string
	Password string
	// Bootstrap is the URL of the laptop serving the bundle (http(s)://host:port), or "".
	Bootstrap string
	// BootstrapCA (PEM) is the CA the bootstrap endpoint's certificate is from (airgap serve's
	// bootstrap CA); written as the TLS CA of its host:port, for https only.
	BootstrapCA string
}

// Build derives the mirror model: one mirror per upstream (endpoints: every node, then the
// bootstrap endpoint), then one per node endpoint for images referenced by the registry's own
// address. TLS settings are written for https only (the nodes', then the bootstrap
// endpoint's CA); credentials for any scheme, and never for the bootstrap endpoint.
func Build(s Spec) *Mirrors {
	var boot *url.URL
	if s.Bootstrap != "" {
		boot, _ = url.Parse(s.Bootstrap)
	}
	endpoints := func(path string) []Endpoint {
		var eps []Endpoint
		for _, n := range s.Nodes {
			eps = append(eps, Endpoint{URL: s.Scheme + "://" + n + path, Host: n})
		}
		if boot != nil {
			eps = append(eps, Endpoint{URL: boot.Scheme + "://" + boot.Host + path, Host: boot.Host, Bootstrap: true})
		}
		return eps
	}
	m := &Mirrors{}
	for _, up := range s.Upstreams {
		m.Mirrors = append(m.Mirrors, Mirror{Key: up, Endpoints: endpoints(mirror.EndpointPath(up)), OverridePath: true, SkipFallback: true})
	}
	// Images referenced by a node's registry address directly resolve through every node.
	for _, n := range s.Nodes {
		m.Mirrors = append(m.Mirrors, Mirror{Key: n, Endpoints: endpoints("/v2"), OverridePath: true, SkipFallback: true})
	}
	tls := s.Scheme == "https" && (s.CA != "" || s.InsecureSkipVerify)
	if tls || s.Username != "" {
		for _, n := range s.Nodes {
			h := Host{Host: n, Username: s.Username, Password: s.Password}
			if tls {
				h.CA, h.InsecureSkipVerify = s.CA, s.InsecureSkipVerify
			}
			m.Hosts = append(m.Hosts, h)
		}
	}
	if boot != nil && boot.Scheme == "https" && s.BootstrapCA != "" {
		m.Hosts = append(m.Hosts, Host{Host: boot.Host, CA: s.BootstrapCA})
	}
	return m
}
