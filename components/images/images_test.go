package images

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/internal/mocktest"
	"airgap-site/provider/contract"
	"airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
)

const ecr = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"

func site(t *testing.T, images string) *siteconfig.Config {
	t.Helper()
	src := siteconfigtest.Source(siteconfigtest.TwoNodes)
	src.Values[siteconfig.KeyTalos] = `{"upstreams":["docker.io","` + ecr + `"]}`
	src.Values[siteconfig.KeyImages] = images
	return siteconfigtest.Load(t, src)
}

// Stand-ins for the generated site CA and push password.
const (
	testCA           = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	testPushPassword = "push-password-from-state"
	testKey          = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
)

func deploy(t *testing.T, c *siteconfig.Config) *mocktest.Recorder {
	t.Helper()
	rec := &mocktest.Recorder{}
	rec.Run(t, func(ctx *pulumi.Context) error {
		// Stands in for the registry Service the copies wait for.
		var ready pulumi.CustomResourceState
		if err := ctx.RegisterResource("kubernetes:core/v1:Service", "registry", nil, &ready); err != nil {
			return err
		}
		push := &PushIdentity{CA: pulumi.String(testCA).ToStringOutput(), Password: pulumi.String(testPushPassword).ToStringOutput()}
		accepted, err := Accept(ctx, "osaka", c, "/site", []string{testKey})
		if err != nil {
			return err
		}
		_, err = New(ctx, "osaka", Args{Config: c, RegistryReady: []pulumi.Resource{&ready}, ProjectDir: "/site", Push: push, TrustedKeys: []string{testKey}, Accepted: accepted})
		return err
	})
	return rec
}

func TestOneImagePerBundledImage(t *testing.T) {
	c := site(t, `{"bundle":"bundle","trustedKeys":["site.pub"],"list":["nginx:1.27","`+ecr+`/factory/mes-api:7","docker.io/library/redis@sha256:`+strings.Repeat("c", 64)+`"]}`)
	rec := deploy(t, c)
	copies := rec.OfType(contract.ImageToken)
	if len(copies) != 3 {
		t.Fatalf("%d images, want 3", len(copies))
	}
	byRepo := map[string]pulumi.MockResourceArgs{}
	for _, cp := range copies {
		byRepo[cp.Inputs["repository"].StringValue()] = cp
	}
	want := map[string]string{
		"docker.io/library/nginx": "1.27",
		ecr + "/factory/mes-api":  "7",
		"docker.io/library/redis": "sha256-" + strings.Repeat("c", 64),
	}
	// One provider holds the site's settings: the push endpoints, the site CA, the push identity
	// with a secret password, the bundle and the keys it must be signed by.
	p := rec.One(t, contract.ProviderToken)
	if !slices.Equal(strs(p["endpoints"]), []string{"10.20.0.11:32001", "10.20.0.12:32001"}) ||
		p["bundle"].StringValue() != "/site/bundle" || p["insecure"].BoolValue() {
		t.Errorf("provider settings = %v", p)
	}
	if keys := strs(p["trustedKeys"]); len(keys) != 1 || keys[0] != testKey || p["allowUnsigned"].BoolValue() {
		t.Errorf("the bundle's trusted keys are not passed on: %v", p)
	}
	if p["username"].StringValue() != siteconfig.PushUser || p["ca"].StringValue() != testCA ||
		!p["password"].IsSecret() || p["password"].SecretValue().Element.StringValue() != testPushPassword {
		t.Errorf("the provider pushes without the push identity: %v", p)
	}
	if n := len(rec.OfType(contract.ProviderToken)); n != 1 {
		t.Errorf("%d airgap providers, want one for the site", n)
	}
	for repo, tag := range want {
		cp, ok := byRepo[repo]
		if !ok {
			t.Errorf("no image for %s", repo)
			continue
		}
		in := cp.Inputs
		if in["tag"].StringValue() != tag {
			t.Errorf("%s inputs = %v", repo, in)
		}
		// Only the image's own inputs: nothing of the site's, no list of its siblings.
		for k := range in {
			if !slices.ContainsFunc(contract.Image.Inputs, func(p contract.Property) bool { return p.Name == string(k) }) {
				t.Errorf("%s has input %s, which is not the image's", repo, k)
			}
		}
		if prov := cp.RegisterRPC.GetProvider(); !strings.Contains(prov, "pulumi:providers:airgap::osaka-registry") {
			t.Errorf("%s is not managed by the site's provider: %q", repo, prov)
		}
		if deps := strings.Join(cp.RegisterRPC.GetDependencies(), " "); !strings.Contains(deps, "Service::registry") {
			t.Errorf("%s does not wait for the registry: %s", repo, deps)
		}
		if cp.RegisterRPC.GetVersion() != contract.Version {
			t.Errorf("%s asks for plugin version %q", repo, cp.RegisterRPC.GetVersion())
		}
	}
	if byRepo["docker.io/library/nginx"].Inputs["sourceRef"].StringValue() != "docker.io/library/nginx:1.27" {
		t.Errorf("source reference not normalized")
	}
}

func strs(v resource.PropertyValue) []string {
	var out []string
	if v.IsArray() {
		for _, e := range v.ArrayValue() {
			out = append(out, e.StringValue())
		}
	}
	return out
}

// TestEveryEndpointInOrder: copies fail over across every node's endpoint, images.registry
// first when set; the retry budget and request timeout come from images.retrySeconds and
// images.timeoutSeconds, with defaults (the retry budget long enough for a registry pod restart).
func TestEveryEndpointInOrder(t *testing.T) {
	cases := []struct {
		images       string
		want         []string
		wantR, wantT float64
	}{
		{`{"bundle":"b","trustedKeys":["site.pub"],"list":["nginx:1.27"]}`, []string{"10.20.0.11:32001", "10.20.0.12:32001"},
			contract.DefaultRetrySeconds, contract.DefaultRequestTimeoutSeconds},
		{`{"bundle":"b","trustedKeys":["site.pub"],"registry":"10.20.0.12:32001","retrySeconds":30,"timeoutSeconds":10,"list":["nginx:1.27"]}`, []string{"10.20.0.12:32001", "10.20.0.11:32001"}, 30, 10},
		{`{"bundle":"b","trustedKeys":["site.pub"],"registry":"registry.factory.local:5000","list":["nginx:1.27"]}`,
			[]string{"registry.factory.local:5000", "10.20.0.11:32001", "10.20.0.12:32001"},
			contract.DefaultRetrySeconds, contract.DefaultRequestTimeoutSeconds},
	}
	for _, c := range cases {
		rec := &mocktest.Recorder{}
		rec.Run(t, func(ctx *pulumi.Context) error {
			push := &PushIdentity{CA: pulumi.String(testCA).ToStringOutput(), Password: pulumi.String(testPushPassword).ToStringOutput()}
			_, err := New(ctx, "osaka", Args{Config: site(t, c.images), ProjectDir: "/site", Push: push, TrustedKeys: []string{testKey}})
			return err
		})
		in := rec.One(t, contract.ProviderToken)
		if got := strs(in["endpoints"]); !slices.Equal(got, c.want) {
			t.Errorf("%s: endpoints = %v, want %v", c.images, got, c.want)
		}
		if r, tm := in["retryFor"].NumberValue(), in["requestTimeout"].NumberValue(); r != c.wantR || tm != c.wantT {
			t.Errorf("%s: retryFor %v, requestTimeout %v, want %v, %v", c.images, r, tm, c.wantR, c.wantT)
		}
	}
}

// TestSiteBuiltImageUsesDocker covers the pulumi-docker path with mocks only: the docker
// provider plugin cannot be built here.
func TestSiteBuiltImageUsesDocker(t *testing.T) {
	c := site(t, `{"docker":{"host":"unix:///var/run/docker.sock"},"list":[{"image":"docker.io/factory/mes-ui:2.0","build":{"context":"./mes-ui","args":{"VERSION":"2.0"}}}]}`)
	rec := deploy(t, c)
	if n := len(rec.OfType(contract.ImageToken)); n != 0 {
		t.Errorf("%d bundle copies for a site-built image", n)
	}
	img := rec.One(t, "docker:index/image:Image")
	if img["imageName"].StringValue() != "10.20.0.11:32001/docker.io/factory/mes-ui:2.0" {
		t.Errorf("built image pushed as %v", img["imageName"])
	}
	build := img["build"].ObjectValue()
	if build["context"].StringValue() != "./mes-ui" || build["args"].ObjectValue()["VERSION"].StringValue() != "2.0" {
		t.Errorf("build = %v", build)
	}
	if reg := img["registry"].ObjectValue(); reg["server"].StringValue() != "10.20.0.11:32001" || reg["username"].StringValue() != siteconfig.PushUser {
		t.Errorf("registry = %v", img["registry"])
	}
	p := rec.One(t, "pulumi:providers:docker")
	if p["host"].StringValue() != "unix:///var/run/docker.sock" {
		t.Errorf("docker provider host = %v", p["host"])
	}
}

// TestCopiesDependOnTheAcceptedBundle: one AcceptedBundle per site with bundled images, with
// the bundle, trust, allowDowngrade and site; every copy depends on it, so an older bundle is
// refused before any copy. A site that only builds images has none.
func TestCopiesDependOnTheAcceptedBundle(t *testing.T) {
	c := site(t, `{"bundle":"bundle","trustedKeys":["site.pub"],"allowDowngrade":true,"list":["nginx:1.27","`+ecr+`/factory/mes-api:7"]}`)
	rec := deploy(t, c)
	a := rec.One(t, contract.AcceptedBundleToken)
	if a["sourceLayout"].StringValue() != "/site/bundle" || !a["allowDowngrade"].BoolValue() || a["allowUnsigned"].BoolValue() ||
		a["site"].StringValue() != c.Site || c.Site == "" {
		t.Errorf("accepted bundle inputs = %v", a)
	}
	if keys := strs(a["trustedKeys"]); len(keys) != 1 || keys[0] != testKey {
		t.Errorf("trusted keys = %v", keys)
	}
	if refs := strs(a["images"]); !slices.Equal(refs, []string{"docker.io/library/nginx:1.27", ecr + "/factory/mes-api:7"}) {
		t.Errorf("the accepted bundle does not check the stack's images: %v", refs)
	}
	for _, cp := range rec.OfType(contract.ImageToken) {
		deps := strings.Join(cp.RegisterRPC.GetDependencies(), " ")
		if !strings.Contains(deps, "airgap:index:AcceptedBundle::osaka-bundle") || !strings.Contains(deps, "Service::registry") {
			t.Errorf("%s does not depend on the accepted bundle and the registry: %s", cp.Name, deps)
		}
	}
	built := site(t, `{"docker":{"host":"unix:///var/run/docker.sock"},"list":[{"image":"docker.io/factory/mes-ui:2.0","build":{"context":"./mes-ui"}}]}`)
	if n := len(deploy(t, built).OfType(contract.AcceptedBundleToken)); n != 0 {
		t.Errorf("%d accepted bundles for a site without a bundle", n)
	}
}

// TestAddingAnImageLeavesOthersAlone: the program declares each image with the same inputs
// whatever else the site holds, so adding one is one create, not an update of every other.
func TestAddingAnImageLeavesOthersAlone(t *testing.T) {
	two := deploy(t, site(t, `{"bundle":"bundle","trustedKeys":["site.pub"],"list":["nginx:1.27","redis:7"]}`))
	three := deploy(t, site(t, `{"bundle":"bundle","trustedKeys":["site.pub"],"list":["nginx:1.27","redis:7","`+ecr+`/factory/mes-api:7"]}`))
	before := map[string]resource.PropertyMap{}
	for _, cp := range two.OfType(contract.ImageToken) {
		before[cp.Name] = cp.Inputs
	}
	for _, cp := range three.OfType(contract.ImageToken) {
		if old, ok := before[cp.Name]; ok && !old.DeepEquals(cp.Inputs) {
			t.Errorf("%s: inputs %v became %v when an image was added", cp.Name, old, cp.Inputs)
		}
	}
	if len(before) != 2 || len(three.OfType(contract.ImageToken)) != 3 {
		t.Errorf("images: %d then %d", len(before), len(three.OfType(contract.ImageToken)))
	}
	p2, p3 := two.One(t, contract.ProviderToken), three.One(t, contract.ProviderToken)
	if !p2.DeepEquals(p3) {
		t.Errorf("the provider's settings changed when an image was added: %v -> %v", p2, p3)
	}
}

// TestRegistryUsageFollowsTheRetention: one RegistryUsage per site, after the retention (and
// after the copies alone with images.retain), with the store's capacity (a tenant's derived, an
// external store's declared) and the S3 location to list; no store reader, no listing.
func TestRegistryUsageFollowsTheRetention(t *testing.T) {
	for _, tc := range []struct {
		name, images string
		after        string
	}{
		{"kept versions", `{"bundle":"bundle","trustedKeys":["site.pub"],"list":["nginx:1.27"]}`, "Retention::osaka-retention"},
		{"retain", `{"bundle":"bundle","trustedKeys":["site.pub"],"retain":true,"list":["nginx:1.27"]}`, "Image::osaka-docker.io/library/nginx:1.27"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := site(t, tc.images)
			c.ObjectStore.Capacity = "500Gi"
			rec := deploy(t, c)
			u := rec.One(t, contract.RegistryUsageToken)
			if got := u["capacityBytes"].NumberValue(); got != 500*(1<<30) {
				t.Errorf("capacityBytes = %v, want 500Gi", got)
			}
			if _, listed := u["storeEndpoint"]; listed {
				t.Errorf("a usage without a store reader lists the store: %v", u)
			}
			usage := rec.OfType(contract.RegistryUsageToken)[0]
			if deps := strings.Join(usage.RegisterRPC.GetDependencies(), " "); !strings.Contains(deps, tc.after) {
				t.Errorf("the usage does not follow %s: %s", tc.after, deps)
			}
			if n := len(rec.OfType(contract.RetentionToken)); (n == 1) == c.Images.Retain {
				t.Errorf("%d retentions with images.retain %v", n, c.Images.Retain)
			}
		})
	}
}
