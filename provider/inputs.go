package provider

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"airgap-site/bundle"
	"airgap-site/mirror"
	"airgap-site/provider/contract"
	"airgap-site/provider/imagesync"
)

// imageInputs are the decoded inputs of contract.Image.
type imageInputs struct {
	contract.ImageArgs
	// unknown lists inputs not known yet (preview).
	unknown []string
}

func parseInputs(m resource.PropertyMap) imageInputs {
	var in imageInputs
	in.unknown = decode(m, contract.Image.Inputs, &in.ImageArgs)
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
		if _, err := mirror.Normalize(in.SourceRef); err != nil {
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

func (in imageInputs) isUnknown(key string) bool { return slices.Contains(in.unknown, key) }

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
