package talosconfig

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"sigs.k8s.io/yaml"
)

// PatchV1Alpha1 is the machine.registries patch of Talos up to v1.11.
type PatchV1Alpha1 struct {
	Machine MachinePatch `json:"machine"`
}

// MachinePatch is the machine section of the patch.
type MachinePatch struct {
	Registries Registries `json:"registries"`
}

// Registries is machine.registries.
type Registries struct {
	Mirrors map[string]MirrorV1Alpha1         `json:"mirrors"`
	Config  map[string]RegistryConfigV1Alpha1 `json:"config,omitempty"`
}

// MirrorV1Alpha1 is one machine.registries.mirrors entry.
type MirrorV1Alpha1 struct {
	Endpoints    []string `json:"endpoints"`
	OverridePath bool     `json:"overridePath"`
	SkipFallback bool     `json:"skipFallback"`
}

// RegistryConfigV1Alpha1 is one machine.registries.config entry.
type RegistryConfigV1Alpha1 struct {
	TLS  *TLSV1Alpha1  `json:"tls,omitempty"`
	Auth *AuthV1Alpha1 `json:"auth,omitempty"`
}

// TLSV1Alpha1 holds TLS settings; ca is base64 of the PEM, as v1alpha1 expects.
type TLSV1Alpha1 struct {
	CA                 string `json:"ca,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
}

// AuthV1Alpha1 holds pull credentials.
type AuthV1Alpha1 struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Document header of the multi-document (v1.12+) config.
type Document struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

// MirrorDocument is a RegistryMirrorConfig document.
type MirrorDocument struct {
	Document
	Endpoints    []EndpointDocument `json:"endpoints"`
	SkipFallback bool               `json:"skipFallback"`
}

// EndpointDocument is one endpoint of a RegistryMirrorConfig.
type EndpointDocument struct {
	URL          string `json:"url"`
	OverridePath bool   `json:"overridePath"`
}

// TLSDocument is a RegistryTLSConfig document; ca is PEM here.
type TLSDocument struct {
	Document
	CA                 string `json:"ca,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
}

// AuthDocument is a RegistryAuthConfig document.
type AuthDocument struct {
	Document
	Username string `json:"username"`
	Password string `json:"password"`
}

// Render writes the mirrors as the patch the given Talos version takes: one YAML document
// (v1.11 and older) or several separated by "---" (v1.12 and newer).
func Render(m *Mirrors, version string) ([]byte, error) {
	minor, err := CheckVersion(version)
	if err != nil {
		return nil, fmt.Errorf("rendering mirrors: %w", err)
	}
	var docs []any
	if minor >= FirstDocumentsMinor {
		docs = Documents(m)
	} else {
		docs = []any{PatchFor(m)}
	}
	var out bytes.Buffer
	for i, d := range docs {
		b, err := yaml.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("marshalling Talos patch: %w", err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(b)
	}
	return out.Bytes(), nil
}

// PatchFor builds the v1alpha1 machine.registries patch.
func PatchFor(m *Mirrors) PatchV1Alpha1 {
	p := PatchV1Alpha1{Machine: MachinePatch{Registries: Registries{Mirrors: map[string]MirrorV1Alpha1{}}}}
	for _, mir := range m.Mirrors {
		var urls []string
		for _, e := range mir.Endpoints {
			urls = append(urls, e.URL)
		}
		p.Machine.Registries.Mirrors[mir.Key] = MirrorV1Alpha1{Endpoints: urls, OverridePath: mir.OverridePath, SkipFallback: mir.SkipFallback}
	}
	for _, h := range m.Hosts {
		var rc RegistryConfigV1Alpha1
		if h.CA != "" || h.InsecureSkipVerify {
			rc.TLS = &TLSV1Alpha1{InsecureSkipVerify: h.InsecureSkipVerify}
			if h.CA != "" {
				rc.TLS.CA = base64.StdEncoding.EncodeToString([]byte(h.CA))
			}
		}
		if h.Username != "" {
			rc.Auth = &AuthV1Alpha1{Username: h.Username, Password: h.Password}
		}
		if p.Machine.Registries.Config == nil {
			p.Machine.Registries.Config = map[string]RegistryConfigV1Alpha1{}
		}
		p.Machine.Registries.Config[h.Host] = rc
	}
	return p
}

// Documents builds the v1.12+ documents: mirrors first, then TLS, then auth.
func Documents(m *Mirrors) []any {
	var docs []any
	for _, mir := range m.Mirrors {
		d := MirrorDocument{Document: Document{APIVersion: "v1alpha1", Kind: "RegistryMirrorConfig", Name: mir.Key}, SkipFallback: mir.SkipFallback}
		for _, e := range mir.Endpoints {
			d.Endpoints = append(d.Endpoints, EndpointDocument{URL: e.URL, OverridePath: mir.OverridePath})
		}
		docs = append(docs, d)
	}
	for _, h := range m.Hosts {
		if h.CA != "" || h.InsecureSkipVerify {
			docs = append(docs, TLSDocument{Document: Document{APIVersion: "v1alpha1", Kind: "RegistryTLSConfig", Name: h.Host},
				CA: h.CA, InsecureSkipVerify: h.InsecureSkipVerify})
		}
	}
	for _, h := range m.Hosts {
		if h.Username != "" {
			docs = append(docs, AuthDocument{Document: Document{APIVersion: "v1alpha1", Kind: "RegistryAuthConfig", Name: h.Host},
				Username: h.Username, Password: h.Password})
		}
	}
	return docs
}
