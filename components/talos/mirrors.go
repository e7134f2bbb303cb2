package talos

import (
	"net/url"

	"airgap-site/components/siteconfig"
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

// BuildMirrors derives the mirror model from a validated site config.
func BuildMirrors(c *siteconfig.Config) *Mirrors {
	nodes := c.RegistryEndpoints()
	endpoints := func(path string) []Endpoint {
		var eps []Endpoint
		for _, n := range nodes {
			eps = append(eps, Endpoint{URL: c.RegistryURL(n) + path, Host: n})
		}
		if b := c.Bootstrap.Endpoint; b != "" {
			u, _ := url.Parse(b)
			eps = append(eps, Endpoint{URL: u.Scheme + "://" + u.Host + path, Host: u.Host, Bootstrap: true})
		}
		return eps
	}
	m := &Mirrors{}
	for _, up := range c.Talos.Upstreams {
		m.Mirrors = append(m.Mirrors, Mirror{Key: up, Endpoints: endpoints("/v2/" + up), OverridePath: true, SkipFallback: true})
	}
	// Images referenced by a node's registry address directly resolve through every node.
	for _, n := range nodes {
		m.Mirrors = append(m.Mirrors, Mirror{Key: n, Endpoints: endpoints("/v2"), OverridePath: true, SkipFallback: true})
	}

	r := c.Talos.Registry
	if r.Scheme == "https" && (r.CA != "" || r.InsecureSkipVerify || r.Username != "") {
		for _, n := range nodes {
			m.Hosts = append(m.Hosts, Host{Host: n, CA: r.CA, InsecureSkipVerify: r.InsecureSkipVerify,
				Username: r.Username, Password: c.Secrets.RegistryPassword.Reveal()})
		}
	} else if r.Username != "" {
		for _, n := range nodes {
			m.Hosts = append(m.Hosts, Host{Host: n, Username: r.Username, Password: c.Secrets.RegistryPassword.Reveal()})
		}
	}
	return m
}
