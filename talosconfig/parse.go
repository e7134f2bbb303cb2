package talosconfig

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"slices"

	"sigs.k8s.io/yaml"
)

// Parse reads a rendered mirror patch of either generation back into the model: a
// machine.registries patch or a stream of Registry*Config documents. It is how tests and
// policies inspect exactly what was sent to the nodes.
func Parse(patch []byte) (*Mirrors, error) {
	m := &Mirrors{}
	// Index, not pointer: appending to m.Hosts may move its elements.
	hosts := map[string]int{}
	host := func(name string) *Host {
		i, ok := hosts[name]
		if !ok {
			m.Hosts = append(m.Hosts, Host{Host: name})
			i = len(m.Hosts) - 1
			hosts[name] = i
		}
		return &m.Hosts[i]
	}
	for i, doc := range SplitDocuments(patch) {
		var head Document
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("parsing patch document %d: %w", i+1, err)
		}
		switch head.Kind {
		case "":
			var p PatchV1Alpha1
			if err := yaml.UnmarshalStrict(doc, &p); err != nil {
				return nil, fmt.Errorf("parsing machine.registries patch: %w", err)
			}
			for _, key := range slices.Sorted(maps.Keys(p.Machine.Registries.Mirrors)) {
				mir := p.Machine.Registries.Mirrors[key]
				out := Mirror{Key: key, OverridePath: mir.OverridePath, SkipFallback: mir.SkipFallback}
				for _, e := range mir.Endpoints {
					out.Endpoints = append(out.Endpoints, endpoint(e))
				}
				m.Mirrors = append(m.Mirrors, out)
			}
			for _, key := range slices.Sorted(maps.Keys(p.Machine.Registries.Config)) {
				cfg := p.Machine.Registries.Config[key]
				h := host(key)
				if cfg.TLS != nil {
					ca, err := base64.StdEncoding.DecodeString(cfg.TLS.CA)
					if err != nil {
						return nil, fmt.Errorf("machine.registries.config[%q].tls.ca: not base64: %w", key, err)
					}
					h.CA, h.InsecureSkipVerify = string(ca), cfg.TLS.InsecureSkipVerify
				}
				if cfg.Auth != nil {
					h.Username, h.Password = cfg.Auth.Username, cfg.Auth.Password
				}
			}
		case "RegistryMirrorConfig":
			var d MirrorDocument
			if err := yaml.UnmarshalStrict(doc, &d); err != nil {
				return nil, fmt.Errorf("parsing RegistryMirrorConfig %q: %w", head.Name, err)
			}
			out := Mirror{Key: d.Name, SkipFallback: d.SkipFallback, OverridePath: len(d.Endpoints) > 0}
			for _, e := range d.Endpoints {
				out.Endpoints = append(out.Endpoints, endpoint(e.URL))
				out.OverridePath = out.OverridePath && e.OverridePath
			}
			m.Mirrors = append(m.Mirrors, out)
		case "RegistryTLSConfig":
			var d TLSDocument
			if err := yaml.UnmarshalStrict(doc, &d); err != nil {
				return nil, fmt.Errorf("parsing RegistryTLSConfig %q: %w", head.Name, err)
			}
			h := host(d.Name)
			h.CA, h.InsecureSkipVerify = d.CA, d.InsecureSkipVerify
		case "RegistryAuthConfig":
			var d AuthDocument
			if err := yaml.UnmarshalStrict(doc, &d); err != nil {
				return nil, fmt.Errorf("parsing RegistryAuthConfig %q: %w", head.Name, err)
			}
			h := host(d.Name)
			h.Username, h.Password = d.Username, d.Password
		default:
			return nil, fmt.Errorf("patch document %d: unexpected kind %q", i+1, head.Kind)
		}
	}
	return m, nil
}

func endpoint(raw string) Endpoint {
	e := Endpoint{URL: raw}
	if u, err := url.Parse(raw); err == nil {
		e.Host = u.Host
	}
	return e
}
