package provider

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"airgap-site/bundle"
	"airgap-site/provider/imagesync"
)

// ImageType is the resource's type token.
const ImageType = "airgap:index:Image"

// imageInputs are the inputs of airgap:index:Image.
type imageInputs struct {
	// SourceLayout and SourceRef name an image in an offline bundle; SourceRemote names one
	// in a registry instead.
	SourceLayout string
	SourceRef    string
	SourceRemote string
	// Registry is the target registry host:port; Insecure means plain http.
	Registry string
	Insecure bool
	CA       string
	Username string
	Password string
	// Repository and Tag are where the image lands, e.g. docker.io/library/nginx and 1.27.
	Repository string
	Tag        string
	// MountFrom are sibling repositories of the target registry to mount shared blobs from.
	MountFrom []string
	// Retain keeps the tag in the registry when the resource is deleted.
	Retain bool
	// Jobs bounds parallel blob transfers.
	Jobs int
	// unknown lists inputs not known yet (preview).
	unknown []string
}

func str(m resource.PropertyMap, key string, unknown *[]string) string {
	v := unwrap(m[resource.PropertyKey(key)])
	if v.IsComputed() || v.IsOutput() && !v.OutputValue().Known {
		*unknown = append(*unknown, key)
		return ""
	}
	if v.IsOutput() {
		v = unwrap(v.OutputValue().Element)
	}
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func unwrap(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

func parseInputs(m resource.PropertyMap) imageInputs {
	var in imageInputs
	in.SourceLayout = str(m, "sourceLayout", &in.unknown)
	in.SourceRef = str(m, "sourceRef", &in.unknown)
	in.SourceRemote = str(m, "sourceRemote", &in.unknown)
	in.Registry = str(m, "registry", &in.unknown)
	in.CA = str(m, "ca", &in.unknown)
	in.Username = str(m, "username", &in.unknown)
	in.Password = str(m, "password", &in.unknown)
	in.Repository = str(m, "repository", &in.unknown)
	in.Tag = str(m, "tag", &in.unknown)
	if v := unwrap(m["insecure"]); v.IsBool() {
		in.Insecure = v.BoolValue()
	}
	if v := unwrap(m["retain"]); v.IsBool() {
		in.Retain = v.BoolValue()
	}
	if v := unwrap(m["jobs"]); v.IsNumber() {
		in.Jobs = int(v.NumberValue())
	}
	if v := unwrap(m["mountFrom"]); v.IsArray() {
		for _, e := range v.ArrayValue() {
			if e = unwrap(e); e.IsString() {
				in.MountFrom = append(in.MountFrom, e.StringValue())
			}
		}
	}
	return in
}

func (in imageInputs) known() bool { return len(in.unknown) == 0 }

// validate returns check failures by property.
func (in imageInputs) validate() map[string]string {
	f := map[string]string{}
	if in.Registry == "" && !in.isUnknown("registry") {
		f["registry"] = "required: the site registry as host:port"
	}
	if in.Repository == "" && !in.isUnknown("repository") {
		f["repository"] = "required: the repository in the site registry, e.g. docker.io/library/nginx"
	}
	if in.Tag == "" && !in.isUnknown("tag") {
		f["tag"] = "required"
	}
	if in.Registry != "" && in.Repository != "" && in.Tag != "" {
		if _, err := in.target(); err != nil {
			f["repository"] = err.Error()
		}
	}
	layout := in.SourceLayout != "" || in.isUnknown("sourceLayout")
	remoteSrc := in.SourceRemote != "" || in.isUnknown("sourceRemote")
	switch {
	case layout && remoteSrc:
		f["sourceRemote"] = "set either sourceLayout+sourceRef (a bundle) or sourceRemote (a registry), not both"
	case !layout && !remoteSrc:
		f["sourceLayout"] = "required: the bundle directory (or sourceRemote)"
	case remoteSrc && in.SourceRemote != "":
		if _, err := name.ParseReference(in.SourceRemote); err != nil {
			f["sourceRemote"] = fmt.Sprintf("parsing reference %q: %v", in.SourceRemote, err)
		}
	case layout && in.SourceLayout != "" && in.known():
		if in.SourceRef == "" {
			f["sourceRef"] = "required with sourceLayout: the image's reference in the bundle"
			break
		}
		if _, err := bundle.Normalize(in.SourceRef); err != nil {
			f["sourceRef"] = err.Error()
			break
		}
		b, err := bundle.Open(in.SourceLayout)
		if err != nil {
			f["sourceLayout"] = err.Error()
			break
		}
		if _, err := b.Lookup(in.SourceRef); err != nil {
			f["sourceRef"] = err.Error()
		}
	}
	if in.Jobs < 0 || in.Jobs > 64 {
		f["jobs"] = "between 1 and 64 (0 means 4)"
	}
	return f
}

func (in imageInputs) isUnknown(key string) bool {
	for _, k := range in.unknown {
		if k == key {
			return true
		}
	}
	return false
}

func (in imageInputs) nameOpts() []name.Option {
	if in.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// target is the tag the image is written to.
func (in imageInputs) target() (name.Tag, error) {
	ref := in.Registry + "/" + in.Repository + ":" + in.Tag
	t, err := name.NewTag(ref, append(in.nameOpts(), name.StrictValidation)...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("parsing target %q: %w", ref, err)
	}
	return t, nil
}

// remoteOptions carry credentials and the registry's CA.
func (in imageInputs) remoteOptions() ([]remote.Option, error) {
	auth := authn.Anonymous
	if in.Username != "" {
		auth = authn.FromConfig(authn.AuthConfig{Username: in.Username, Password: in.Password})
	}
	opts := []remote.Option{remote.WithAuth(auth)}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // the site registry is local; never send it through a proxy
	if in.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(in.CA)) {
			return nil, errors.New("ca: not a PEM certificate")
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return append(opts, remote.WithTransport(t)), nil
}

// source opens what to copy.
func (in imageInputs) source(opts []remote.Option) (imagesync.Source, error) {
	if in.SourceRemote != "" {
		ref, err := name.ParseReference(in.SourceRemote)
		if err != nil {
			return imagesync.Source{}, fmt.Errorf("parsing reference %q: %w", in.SourceRemote, err)
		}
		desc, err := remote.Get(ref, opts...)
		if err != nil {
			return imagesync.Source{}, fmt.Errorf("reading %s: %w", ref, err)
		}
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			return imagesync.Source{Index: idx}, err
		}
		img, err := desc.Image()
		return imagesync.Source{Image: img}, err
	}
	b, err := bundle.Open(in.SourceLayout)
	if err != nil {
		return imagesync.Source{}, err
	}
	desc, err := b.Lookup(in.SourceRef)
	if err != nil {
		return imagesync.Source{}, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := b.Index(in.SourceRef)
		return imagesync.Source{Index: idx}, err
	}
	img, err := b.Image(in.SourceRef)
	return imagesync.Source{Image: img}, err
}

// sourceDigest is the source's digest: read offline from the bundle (or with one HEAD from a
// source registry).
func (in imageInputs) sourceDigest(opts []remote.Option) (string, error) {
	if in.SourceRemote != "" {
		ref, err := name.ParseReference(in.SourceRemote)
		if err != nil {
			return "", err
		}
		desc, err := remote.Head(ref, opts...)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", ref, err)
		}
		return desc.Digest.String(), nil
	}
	b, err := bundle.Open(in.SourceLayout)
	if err != nil {
		return "", err
	}
	desc, err := b.Lookup(in.SourceRef)
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}
