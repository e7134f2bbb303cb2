package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/time/rate"

	"airgap-site/bundle"
	"airgap-site/internal/nodowngrade"
	"airgap-site/mirror"
	"airgap-site/provider/blobupload"
	"airgap-site/provider/contract"
	"airgap-site/provider/siteregistry"
	"airgap-site/signing"
)

// siteConfig is the provider's configuration (contract.Provider): the site registry, how it
// is reached, and the bundle and trust images come from.
type siteConfig struct {
	contract.ProviderArgs
	// unknown lists settings not known yet (the engine does not configure a provider whose
	// settings are unknown, but CheckConfig and DiffConfig see them).
	unknown []string
}

func parseConfig(m resource.PropertyMap) siteConfig {
	var c siteConfig
	c.unknown = decode(m, contract.Provider.Inputs, &c.ProviderArgs)
	return c
}

func (c siteConfig) isUnknown(key string) bool { return slices.Contains(c.unknown, key) }

// effective are the settings as they act: defaults applied, empty lists as none.
func (c siteConfig) effective() contract.ProviderArgs {
	a := c.ProviderArgs
	a.Jobs, a.RetryFor, a.RequestTimeout = c.jobs(), or(a.RetryFor, contract.DefaultRetrySeconds), or(a.RequestTimeout, contract.DefaultRequestTimeoutSeconds)
	if len(a.Endpoints) == 0 {
		a.Endpoints = nil
	}
	if len(a.TrustedKeys) == 0 {
		a.TrustedKeys = nil
	}
	return a
}

// configChanges are the settings that changed: updates of the provider, never replacements.
func configChanges(old, new siteConfig) changes {
	return inputChanges(contract.Provider.Inputs, reflect.ValueOf(old.effective()), reflect.ValueOf(new.effective()), new.unknown)
}

// validate returns the failures of the known settings, by setting.
func (c siteConfig) validate() failures {
	f := failures{}
	for i, ep := range c.Endpoints {
		if msg := mirror.HostPortProblem(ep); msg != "" {
			f.add("endpoints", "endpoints[%d]: %s", i, msg)
		} else if j := slices.Index(c.Endpoints, ep); j < i {
			f.add("endpoints", "endpoints[%d]: %s is also endpoints[%d]", i, ep, j)
		}
	}
	if c.CA != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(c.CA)) {
		f.add("ca", "not a PEM certificate")
	}
	if _, err := c.trust(); err != nil {
		f.add("trustedKeys", "%v", err)
	}
	if c.Jobs < 0 || c.Jobs > 64 {
		f.add("jobs", "between 1 and 64 (0 means %d)", contract.DefaultJobs)
	}
	if c.RetryFor < 0 {
		f.add("retryFor", "seconds, 0 or more (0 means %d)", contract.DefaultRetrySeconds)
	}
	if c.RequestTimeout < 0 {
		f.add("requestTimeout", "seconds, 0 or more (0 means %d)", contract.DefaultRequestTimeoutSeconds)
	}
	if c.LinkBytesPerSecond < 0 {
		f.add("linkBytesPerSecond", "bytes per second, 0 or more (0: not known)")
	}
	if c.MaxBytesPerSecond < 0 {
		f.add("maxBytesPerSecond", "bytes per second, 0 or more (0: no cap)")
	}
	return f
}

// registryProblem says why an image cannot be copied to the site registry with this
// configuration; "" when it can.
func (c siteConfig) registryProblem() string {
	if len(c.Endpoints) == 0 {
		return "the airgap provider has no site registry: set its endpoints (an explicit airgap provider with endpoints, as components/images declares it)"
	}
	return ""
}

func (c siteConfig) jobs() int { return or(c.Jobs, contract.DefaultJobs) }

func (c siteConfig) retryFor() time.Duration {
	return seconds(or(c.RetryFor, contract.DefaultRetrySeconds))
}

func (c siteConfig) requestTimeout() time.Duration {
	return seconds(or(c.RequestTimeout, contract.DefaultRequestTimeoutSeconds))
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

func (c siteConfig) nameOpts() []name.Option {
	if c.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// plainHTTP are the registries the provider may reach over plain http: the site registry's
// endpoints when it is configured as plain http, else none.
func (c siteConfig) plainHTTP() nodowngrade.PlainHTTP {
	p := nodowngrade.PlainHTTP{Setting: "registry.plainHTTP, the provider's insecure setting"}
	if c.Insecure {
		p.Hosts = c.Endpoints
	}
	return p
}

// site names the registry behind the endpoints, for what copies learn about it (imagesync.Known).
func (c siteConfig) site() string {
	return strings.Join(slices.Sorted(slices.Values(c.Endpoints)), ",")
}

// remoteOptions carry credentials, the registry's CA, the progress-bounded transport and ctx;
// go-containerregistry's retries are off, siteregistry.Endpoints retries. The transport never
// falls back to plain http (nodowngrade) except to the endpoints of a site whose registry is
// plain http (insecure: registry.plainHTTP); a sourceRemote is reached over https only.
func (c siteConfig) remoteOptions(ctx context.Context) ([]remote.Option, error) {
	base, err := c.transport()
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{
		remote.WithAuth(c.auth()),
		remote.WithTransport(nodowngrade.Transport(base, c.plainHTTP())),
		remote.WithContext(ctx),
	}
	return append(opts, siteregistry.NoRetries()...), nil
}

// auth is the push identity (anonymous without a username).
func (c siteConfig) auth() authn.Authenticator {
	if c.Username == "" {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{Username: c.Username, Password: c.Password})
}

// transport trusts the site CA and bounds a request that moves no byte.
func (c siteConfig) transport() (http.RoundTripper, error) {
	var tlsConfig *tls.Config
	if c.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CA)) {
			return nil, errors.New("ca: not a PEM certificate")
		}
		tlsConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return siteregistry.Transport(tlsConfig, c.requestTimeout()), nil
}

// uploads are the options of the chunked uploads (package blobupload) of the copies of one
// process: sessions and limiter are the process's, shared by every copy, so the cap holds for
// all of them together.
func (c siteConfig) uploads(sessions *blobupload.Sessions, limiter *rate.Limiter, retry siteregistry.Policy) (*blobupload.Options, error) {
	base, err := c.transport()
	if err != nil {
		return nil, err
	}
	return &blobupload.Options{Auth: c.auth(), Transport: base, PlainHTTP: c.plainHTTP(),
		Sessions: sessions, Limiter: limiter, Retry: retry}, nil
}

// trust is what the bundle must be signed by.
func (c siteConfig) trust() (bundle.Trust, error) {
	return trustOf(c.TrustedKeys, c.AllowUnsigned)
}

// trustOf is the trust of the trustedKeys and allowUnsigned settings.
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

// bundles opens each bundle verified (bundle.OpenVerified) once per process and trust: every
// operation of the process reads the bytes that were verified, whatever the medium shows later,
// and a bundle is not verified again for each image.
type bundles struct {
	mu     sync.Mutex
	opened map[string]*openedBundle
}

type openedBundle struct {
	once sync.Once
	b    *bundle.Bundle
	key  signing.Key
	err  error
}

// open returns the bundle at dir verified against keys and allowUnsigned.
func (bs *bundles) open(dir string, keys []string, allowUnsigned bool) (*bundle.Bundle, signing.Key, error) {
	id := fmt.Sprintf("%s\x00%v\x00%q", dir, allowUnsigned, keys)
	bs.mu.Lock()
	if bs.opened == nil {
		bs.opened = map[string]*openedBundle{}
	}
	o := bs.opened[id]
	if o == nil {
		o = &openedBundle{}
		bs.opened[id] = o
	}
	bs.mu.Unlock()
	o.once.Do(func() {
		trust, err := trustOf(keys, allowUnsigned)
		if err != nil {
			o.err = err
			return
		}
		o.b, o.key, o.err = bundle.OpenVerified(dir, trust)
	})
	return o.b, o.key, o.err
}

// checkedBlobs are the bundle blobs this process has hashed.
var checkedBlobs = &bundle.Checked{}
