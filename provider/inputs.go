package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"airgap-site/bundle"
	"airgap-site/internal/nodowngrade"
	"airgap-site/mirror"
	"airgap-site/provider/contract"
	"airgap-site/provider/imagesync"
	"airgap-site/provider/siteregistry"
	"airgap-site/signing"
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
	in.migrate(m)
	return in
}

// migrate reads the registry input of provider 0.1 as the one endpoint it was.
func (in *imageInputs) migrate(m resource.PropertyMap) {
	old, ok := m[contract.LegacyRegistry]
	if !ok || len(in.Endpoints) > 0 || in.isUnknown("endpoints") {
		return
	}
	switch v, known := resolve(old); {
	case !known:
		in.unknown = append(in.unknown, "endpoints")
	case v.IsString() && v.StringValue() != "":
		in.Endpoints = []string{v.StringValue()}
	}
}

func (in imageInputs) known() bool { return len(in.unknown) == 0 }

// bundleKnown reports whether what reading the bundle takes is known: its directory, the
// image's reference and the trust. A new site's first preview has unknown endpoints and
// credentials (made by the same up), but the bundle is verified all the same.
func (in imageInputs) bundleKnown() bool {
	for _, k := range []string{"sourceLayout", "sourceRef", "trustedKeys", "allowUnsigned"} {
		if in.isUnknown(k) {
			return false
		}
	}
	return true
}

// sourceKnown reports whether the source's digest can be read: the bundle's (bundleKnown),
// or a source registry's, reached with the credentials of every input.
func (in imageInputs) sourceKnown() bool {
	if in.SourceRemote != "" {
		return in.known()
	}
	return in.SourceLayout != "" && in.bundleKnown()
}

// validate returns check failures by property.
func (in imageInputs) validate() map[string]string {
	f := map[string]string{}
	epProblem := in.endpointsProblem()
	if epProblem != "" {
		f["endpoints"] = epProblem
	}
	if in.Repository == "" && !in.isUnknown("repository") {
		f["repository"] = "required: the repository in the site registry, e.g. docker.io/library/nginx"
	}
	if in.Tag == "" && !in.isUnknown("tag") {
		f["tag"] = "required"
	}
	if epProblem == "" && len(in.Endpoints) > 0 && in.Repository != "" && in.Tag != "" {
		if _, err := in.target(in.Endpoints[0]); err != nil {
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
	case layout && in.SourceLayout != "" && in.bundleKnown():
		if in.SourceRef == "" {
			f["sourceRef"] = "required with sourceLayout: the image's reference in the bundle"
			break
		}
		if _, err := mirror.Normalize(in.SourceRef); err != nil {
			f["sourceRef"] = err.Error()
			break
		}
		trust, err := in.trust()
		if err != nil {
			f["trustedKeys"] = err.Error()
			break
		}
		// Every byte, before anything is copied: the signature, then the manifests (Lookup),
		// then the blobs.
		b, _, err := bundle.OpenVerified(in.SourceLayout, trust)
		if err != nil {
			f["sourceLayout"] = err.Error()
			break
		}
		desc, err := b.Lookup(in.SourceRef)
		if err != nil {
			f["sourceRef"] = err.Error()
			break
		}
		if err := b.CheckBlobs(in.SourceRef, checkedBlobs); err != nil {
			f["sourceRef"] = err.Error()
			break
		}
		// The signatures and attestations pushed beside the image, checked the same way.
		attached, err := b.Attached(in.SourceRef, desc.Digest)
		if err != nil {
			f["sourceRef"] = err.Error()
			break
		}
		for _, a := range attached {
			if err := b.CheckBlobs(a.Reference, checkedBlobs); err != nil {
				f["sourceRef"] = err.Error()
				break
			}
		}
	}
	if in.Jobs < 0 || in.Jobs > 64 {
		f["jobs"] = "between 1 and 64 (0 means 4)"
	}
	if in.RetryFor < 0 {
		f["retryFor"] = fmt.Sprintf("seconds, 0 or more (0 means %d)", contract.DefaultRetrySeconds)
	}
	if in.RequestTimeout < 0 {
		f["requestTimeout"] = fmt.Sprintf("seconds, 0 or more (0 means %d)", contract.DefaultRequestTimeoutSeconds)
	}
	return f
}

func (in imageInputs) endpointsProblem() string {
	if len(in.Endpoints) == 0 {
		if in.isUnknown("endpoints") {
			return ""
		}
		return "required: the site registry's endpoints as host:port, e.g. [10.20.0.11:32000, 10.20.0.12:32000]"
	}
	for i, ep := range in.Endpoints {
		if msg := mirror.HostPortProblem(ep); msg != "" {
			return fmt.Sprintf("endpoints[%d]: %s", i, msg)
		}
		if j := slices.Index(in.Endpoints, ep); j < i {
			return fmt.Sprintf("endpoints[%d]: %s is also endpoints[%d]", i, ep, j)
		}
	}
	return ""
}

func (in imageInputs) isUnknown(key string) bool { return slices.Contains(in.unknown, key) }

func (in imageInputs) nameOpts() []name.Option {
	if in.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// plainHTTP are the registries the image may reach over plain http: the site registry's
// endpoints when it is configured as plain http, else none.
func (in imageInputs) plainHTTP() nodowngrade.PlainHTTP {
	p := nodowngrade.PlainHTTP{Setting: "registry.plainHTTP, the image's insecure input"}
	if in.Insecure {
		p.Hosts = in.Endpoints
	}
	return p
}

// target is the tag the image is written to, reached at endpoint.
func (in imageInputs) target(endpoint string) (name.Tag, error) {
	ref := endpoint + "/" + in.Repository + ":" + in.Tag
	t, err := name.NewTag(ref, append(in.nameOpts(), name.StrictValidation)...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("parsing target %q: %w", ref, err)
	}
	return t, nil
}

// label names the image in the site registry, whatever the endpoint.
func (in imageInputs) label() string { return in.Repository + ":" + in.Tag }

// site names the registry behind the endpoints, for what copies learn about it (imagesync.Known).
func (in imageInputs) site() string {
	return strings.Join(slices.Sorted(slices.Values(in.Endpoints)), ",")
}

// mountRepos are the MountFrom repositories by name in the site registry.
func (in imageInputs) mountRepos() []string {
	out := make([]string, len(in.MountFrom))
	for i, m := range in.MountFrom {
		out[i] = imagesync.RepositoryName(m, in.Endpoints...)
	}
	return out
}

func (in imageInputs) jobs() int { return or(in.Jobs, contract.DefaultJobs) }

func (in imageInputs) retryFor() time.Duration {
	return seconds(or(in.RetryFor, contract.DefaultRetrySeconds))
}

func (in imageInputs) requestTimeout() time.Duration {
	return seconds(or(in.RequestTimeout, contract.DefaultRequestTimeoutSeconds))
}

// effective are the inputs as they act, for Diff: defaults applied, MountFrom by repository
// name, empty lists as none. A state of provider 0.1 (registry, host-prefixed MountFrom, no
// retryFor) then equals the same site declared today.
func (in imageInputs) effective() contract.ImageArgs {
	a := in.ImageArgs
	a.Jobs, a.RetryFor, a.RequestTimeout = in.jobs(), or(a.RetryFor, contract.DefaultRetrySeconds), or(a.RequestTimeout, contract.DefaultRequestTimeoutSeconds)
	a.MountFrom = in.mountRepos()
	if len(a.MountFrom) == 0 {
		a.MountFrom = nil
	}
	if len(a.Endpoints) == 0 {
		a.Endpoints = nil
	}
	return a
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// remoteOptions carry credentials, the registry's CA, the progress-bounded transport and ctx;
// go-containerregistry's retries are off, siteregistry.Endpoints retries. The transport never
// falls back to plain http (nodowngrade) except to the endpoints of a site whose registry is
// plain http (insecure: registry.plainHTTP); a sourceRemote is reached over https only.
func (in imageInputs) remoteOptions(ctx context.Context) ([]remote.Option, error) {
	auth := authn.Anonymous
	if in.Username != "" {
		auth = authn.FromConfig(authn.AuthConfig{Username: in.Username, Password: in.Password})
	}
	var tlsConfig *tls.Config
	if in.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(in.CA)) {
			return nil, errors.New("ca: not a PEM certificate")
		}
		tlsConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	opts := []remote.Option{
		remote.WithAuth(auth),
		remote.WithTransport(nodowngrade.Transport(siteregistry.Transport(tlsConfig, in.requestTimeout()), in.plainHTTP())),
		remote.WithContext(ctx),
	}
	return append(opts, siteregistry.NoRetries()...), nil
}

// checkedBlobs are the bundle blobs this process has hashed.
var checkedBlobs = &bundle.Checked{}

// trust is what the bundle must be signed by.
func (in imageInputs) trust() (bundle.Trust, error) {
	return trustOf(in.TrustedKeys, in.AllowUnsigned)
}

// trustOf is the trust of the trustedKeys and allowUnsigned inputs.
func trustOf(keys []string, allowUnsigned bool) (bundle.Trust, error) {
	t := bundle.Trust{AllowUnsigned: allowUnsigned}
	for i, pem := range keys {
		k, err := signing.ParseKey([]byte(pem))
		if err != nil {
			return bundle.Trust{}, fmt.Errorf("trustedKeys[%d]: %w", i, err)
		}
		t.Keys = append(t.Keys, k)
	}
	return t, nil
}

// sourceRef is the registry reference of a sourceRemote.
func (in imageInputs) sourceRef() (name.Reference, error) {
	ref, err := name.ParseReference(in.SourceRemote)
	if err != nil {
		return nil, fmt.Errorf("parsing reference %q: %w", in.SourceRemote, err)
	}
	return ref, nil
}

// openBundle opens the bundle verified (bundle.OpenVerified): what is copied is read from the
// bytes that were verified, whatever the medium shows later.
func (in imageInputs) openBundle() (*bundle.Bundle, error) {
	trust, err := in.trust()
	if err != nil {
		return nil, err
	}
	b, _, err := bundle.OpenVerified(in.SourceLayout, trust)
	return b, err
}

// bundleSource opens the image in the bundle.
func (in imageInputs) bundleSource() (imagesync.Source, error) {
	b, err := in.openBundle()
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

// bundleDigest is the source's digest, read offline from the bundle.
func (in imageInputs) bundleDigest() (string, error) {
	b, err := in.openBundle()
	if err != nil {
		return "", err
	}
	desc, err := b.Lookup(in.SourceRef)
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}
