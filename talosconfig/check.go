package talosconfig

import (
	"fmt"
	"maps"
	"net/url"
	"slices"

	"sigs.k8s.io/yaml"

	"airgap-site/mirror"
)

// PatchDocument is one YAML document of a machine config patch, with where it came from.
type PatchDocument struct {
	// Where names the document in messages, e.g. talos.patches[1] (document 2).
	Where string
	Body  map[string]any
}

// Problem is one broken patch rule: where, and what to do about it.
type Problem struct {
	Where   string
	Message string
}

func (p Problem) String() string {
	if p.Where == "" {
		return p.Message
	}
	return p.Where + ": " + p.Message
}

// Rules are what a patch is checked against beyond its own text.
type Rules struct {
	// Managed are mirror keys that another source owns (the stack's own mirrors): a patch
	// that defines one would silently replace it.
	Managed map[string]bool
	// HTTPHosts are registry hosts known to be reached over plain http, in addition to those
	// the patch's own http:// endpoints name.
	HTTPHosts map[string]bool
}

// SplitPatch parses a patch, a YAML stream of one or more documents, naming each after where.
func SplitPatch(where string, patch []byte) ([]PatchDocument, error) {
	parts := SplitDocuments(patch)
	var docs []PatchDocument
	for i, part := range parts {
		var body map[string]any
		if err := yaml.UnmarshalStrict(part, &body); err != nil {
			return nil, fmt.Errorf("document %d is not a YAML object: %w", i+1, err)
		}
		w := where
		if len(parts) > 1 {
			w = fmt.Sprintf("%s (document %d)", where, i+1)
		}
		docs = append(docs, PatchDocument{Where: w, Body: body})
	}
	return docs, nil
}

// CheckPatch checks a rendered or hand-written patch of either generation (see Check).
func CheckPatch(patch []byte, r Rules) []Problem {
	docs, err := SplitPatch("", patch)
	if err != nil {
		return []Problem{{Message: fmt.Sprintf("the Talos patch does not parse: %v", err)}}
	}
	return Check(docs, r)
}

// Check applies every patch rule to a set of documents. These are the mistakes Talos accepts
// silently or that break image pulls:
//   - a mirror or registry config keyed by a URL instead of host[:port] (never matches);
//   - a mirror endpoint without an http:// or https:// scheme;
//   - a TLS block (ca, clientIdentity, insecureSkipVerify) for a host reached over plain http
//     (it breaks Talos' own pulls);
//   - a mirror defined twice, or one that rules.Managed says belongs to someone else.
//
// Documents that are neither machine.registries nor Registry*Config pass.
func Check(docs []PatchDocument, r Rules) []Problem {
	c := &checker{rules: r, httpHosts: maps.Clone(r.HTTPHosts), mirrors: map[string]string{}}
	if c.httpHosts == nil {
		c.httpHosts = map[string]bool{}
	}
	for _, d := range docs {
		c.document(d)
	}
	for _, u := range c.tlsUses {
		if c.httpHosts[u.host] {
			c.fail(u.where, "%s", TLSOverHTTP(u.host))
		}
	}
	return c.problems
}

// TLSOverHTTP is the message for a TLS block on a host reached over plain http.
func TLSOverHTTP(host string) string {
	return fmt.Sprintf("%s is reached over plain http: a TLS block (ca, clientIdentity, insecureSkipVerify) applies to https endpoints only, and on an http registry it breaks Talos' own image pulls; remove it (or serve the registry over https)", host)
}

type tlsUse struct{ where, host string }

type checker struct {
	rules     Rules
	httpHosts map[string]bool
	// mirrors maps each mirror key seen to where, to find duplicates.
	mirrors  map[string]string
	tlsUses  []tlsUse
	problems []Problem
}

func (c *checker) fail(where, format string, args ...any) {
	c.problems = append(c.problems, Problem{Where: where, Message: fmt.Sprintf(format, args...)})
}

func join(where, field string) string {
	if where == "" {
		return field
	}
	return where + "." + field
}

func (c *checker) document(d PatchDocument) {
	name, _ := d.Body["name"].(string)
	switch d.Body["kind"] {
	case "RegistryMirrorConfig":
		c.mirrorKey(join(d.Where, "name"), name)
		eps, _ := d.Body["endpoints"].([]any)
		for j, e := range eps {
			m, _ := e.(map[string]any)
			u, _ := m["url"].(string)
			c.endpoint(join(d.Where, fmt.Sprintf("endpoints[%d].url", j)), u)
		}
	case "RegistryTLSConfig":
		if msg := mirror.HostPortProblem(name); msg != "" {
			c.fail(join(d.Where, "name"), "%s", msg)
		}
		c.tlsUses = append(c.tlsUses, tlsUse{d.Where, name})
	case "RegistryAuthConfig":
		if msg := mirror.HostPortProblem(name); msg != "" {
			c.fail(join(d.Where, "name"), "%s", msg)
		}
	case nil:
		regs := nested(d.Body, "machine", "registries")
		mirrors, _ := regs["mirrors"].(map[string]any)
		for _, key := range slices.Sorted(maps.Keys(mirrors)) {
			where := join(d.Where, fmt.Sprintf("machine.registries.mirrors[%q]", key))
			c.mirrorKey(where, key)
			m, _ := mirrors[key].(map[string]any)
			eps, _ := m["endpoints"].([]any)
			for j, e := range eps {
				s, _ := e.(string)
				c.endpoint(fmt.Sprintf("%s.endpoints[%d]", where, j), s)
			}
		}
		configs, _ := regs["config"].(map[string]any)
		for _, key := range slices.Sorted(maps.Keys(configs)) {
			where := join(d.Where, fmt.Sprintf("machine.registries.config[%q]", key))
			host := key
			if msg := mirror.HostPortProblem(key); msg != "" {
				c.fail(where, "%s", msg)
				// Still check its TLS block against the host the URL names.
				if u, err := url.Parse(key); err == nil && u.Host != "" {
					host = u.Host
				}
			}
			if cfg, _ := configs[key].(map[string]any); cfg["tls"] != nil {
				c.tlsUses = append(c.tlsUses, tlsUse{where + ".tls", host})
			}
		}
	}
}

func (c *checker) mirrorKey(where, key string) {
	if msg := mirror.HostPortProblem(key); msg != "" && key != "*" {
		c.fail(where, "%s", msg)
		return
	}
	if c.rules.Managed[key] {
		c.fail(where, "mirror %q is managed by this stack (talos.upstreams and the node endpoints); remove it from the patch", key)
		return
	}
	if other, dup := c.mirrors[key]; dup {
		c.fail(where, "mirror %q is defined twice (also at %s)", key, other)
	}
	c.mirrors[key] = where
}

// endpoint checks one endpoint URL and records plain-http hosts.
func (c *checker) endpoint(where, endpoint string) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.fail(where, "%q needs a scheme: http://host:port or https://host:port", endpoint)
		return
	}
	if u.Scheme == "http" {
		c.httpHosts[u.Host] = true
	}
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
