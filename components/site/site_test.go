package site

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/internal/mocktest"
	"airgap-site/provider/contract"
	"airgap-site/signing"
	"airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
)

// tenantType is the token pulumi-kubernetes gives a custom resource: group/version:Kind.
const tenantType = "kubernetes:minio.min.io/v2:Tenant"

const (
	s3Secret     = "s3-secret-value-0001"
	s3Access     = "s3-access-value-0001"
	rootPassword = "root-password-value-0001"
)

func testConfig(t *testing.T, objectStore string) *siteconfig.Config {
	t.Helper()
	src := siteconfigtest.Source(siteconfigtest.TwoNodes)
	src.Values[siteconfig.KeyObjectStore] = objectStore
	siteconfigtest.SetSecret(src, siteconfig.KeyS3AccessKey, s3Access)
	siteconfigtest.SetSecret(src, siteconfig.KeyS3SecretKey, s3Secret)
	if strings.Contains(objectStore, "minio-tenant") {
		siteconfigtest.SetSecret(src, siteconfig.KeyMinioRootUser, "minio-admin")
		siteconfigtest.SetSecret(src, siteconfig.KeyMinioRootPassword, rootPassword)
	}
	return siteconfigtest.Load(t, src)
}

// What the mocked airgap provider "generates": the component must only ever pass these on as
// secrets.
const (
	caKey        = "CA-PRIVATE-KEY"
	certKey      = "SERVING-PRIVATE-KEY"
	pullPassword = "PULL-PASSWORD-GENERATED"
	pushPassword = "PUSH-PASSWORD-GENERATED"
	registryRef  = "docker.io/library/registry:3.1.2@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	minioRef     = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z@sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func generated(args pulumi.MockResourceArgs) resource.PropertyMap {
	str := resource.NewStringProperty
	switch args.TypeToken {
	case contract.CertificateAuthorityToken:
		return resource.PropertyMap{"certPem": str("CA-CERT"), "keyPem": str(caKey)}
	case contract.CertificateToken:
		return resource.PropertyMap{"certPem": str("SERVING-CERT"), "keyPem": str(certKey)}
	case contract.PasswordToken:
		pw := pullPassword
		if args.Inputs["username"].StringValue() == siteconfig.PushUser {
			pw = pushPassword
		}
		return resource.PropertyMap{"result": str(pw), "htpasswd": str(args.Inputs["username"].StringValue() + ":HASH-OF-" + pw)}
	}
	return nil
}

func deploy(t *testing.T, c *siteconfig.Config) *mocktest.Recorder {
	t.Helper()
	c.Registry.Image = registryRef
	if c.ObjectStore.Tenant != nil {
		c.ObjectStore.Tenant.Image = minioRef
	}
	rec := &mocktest.Recorder{Outputs: generated}
	rec.Run(t, func(ctx *pulumi.Context) error {
		_, err := New(ctx, c.Site, Args{Config: c, Kubeconfig: "apiVersion: v1\nkind: Config\n"})
		return err
	})
	return rec
}

func TestExternalSiteGraph(t *testing.T) {
	rec := deploy(t, testConfig(t, `{"kind":"external","endpoint":"http://10.20.0.5:9000"}`))

	for token, want := range map[string]int{
		Type:                                       1,
		"airgap-site:objectstore:ObjectStore":      1,
		"airgap-site:registry:Registry":            1,
		"pulumi:providers:kubernetes":              1,
		"kubernetes:core/v1:Namespace":             1,
		"kubernetes:core/v1:Secret":                5, // pull and push S3 keys (and http secret), TLS pair, two htpasswd
		"kubernetes:core/v1:ConfigMap":             2,
		"kubernetes:apps/v1:Deployment":            2,
		"kubernetes:policy/v1:PodDisruptionBudget": 1,
		"kubernetes:core/v1:Service":               2,
		contract.CertificateAuthorityToken:         1,
		contract.CertificateToken:                  1,
		contract.PasswordToken:                     2,
		tenantType:                                 0,
	} {
		if got := len(rec.OfType(token)); got != want {
			t.Errorf("%s: %d resources, want %d", token, got, want)
		}
	}

	for name, nodePort := range map[string]float64{"registry": 32000, "registry-push": 32001} {
		spec := named(t, rec, "kubernetes:core/v1:Service", name)["spec"].ObjectValue()
		port := spec["ports"].ArrayValue()[0].ObjectValue()
		if spec["type"].StringValue() != "NodePort" || port["nodePort"].NumberValue() != nodePort || port["port"].NumberValue() != 5000 {
			t.Errorf("service %s spec = %v", name, spec)
		}
	}
	for name, replicas := range map[string]float64{"registry": 2, "registry-push": 1} {
		dspec := named(t, rec, "kubernetes:apps/v1:Deployment", name)["spec"].ObjectValue()
		if dspec["replicas"].NumberValue() != replicas {
			t.Errorf("%s replicas = %v, want %v", name, dspec["replicas"], replicas)
		}
		assertHardened(t, name, dspec["template"].ObjectValue())
	}
	dep := named(t, rec, "kubernetes:apps/v1:Deployment", "registry")
	dspec := dep["spec"].ObjectValue()
	pod := dspec["template"].ObjectValue()["spec"].ObjectValue()
	container := pod["containers"].ArrayValue()[0].ObjectValue()
	refs := map[string]string{}
	for _, e := range container["env"].ArrayValue() {
		env := e.ObjectValue()
		if vf, ok := env["valueFrom"]; ok {
			ref := vf.ObjectValue()["secretKeyRef"].ObjectValue()
			refs[env["name"].StringValue()] = ref["name"].StringValue() + "/" + ref["key"].StringValue()
		}
	}
	want := map[string]string{
		"REGISTRY_STORAGE_S3_ACCESSKEY": "registry-credentials/s3-access-key",
		"REGISTRY_STORAGE_S3_SECRETKEY": "registry-credentials/s3-secret-key",
		"REGISTRY_HTTP_SECRET":          "registry-credentials/http-secret",
	}
	if fmt.Sprint(refs) != fmt.Sprint(want) {
		t.Errorf("secret env refs = %v, want %v", refs, want)
	}
	assertS3Identities(t, rec, siteconfigtest.S3PullAccessKey, s3Access)
	// The registry's NetworkPolicy opens the debug port to the site's nodes.
	np := named(t, rec, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "registry-ingress")
	var cidrs []string
	for _, r := range np["spec"].ObjectValue()["ingress"].ArrayValue() {
		from := r.ObjectValue()["from"]
		if !from.IsArray() {
			continue
		}
		for _, f := range from.ArrayValue() {
			cidrs = append(cidrs, f.ObjectValue()["ipBlock"].ObjectValue()["cidr"].StringValue())
		}
	}
	if fmt.Sprint(cidrs) != "[10.20.0.11/32 10.20.0.12/32]" {
		t.Errorf("NetworkPolicy peers %v, want the two nodes", cidrs)
	}
	// The API answers 401 to an anonymous probe: kubelet probes the storage health check.
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		get := container[resource.PropertyKey(probe)].ObjectValue()["httpGet"].ObjectValue()
		if get["path"].StringValue() != "/debug/health" || get["port"].StringValue() != "debug" {
			t.Errorf("%s must hit the debug health endpoint: %v", probe, get)
		}
	}
	// Readiness often (a pod back from a collection or a power cut serves at once), liveness
	// seldom (an S3 outage restarts nothing for a minute).
	for probe, want := range map[string][2]float64{"readinessProbe": {2, 3}, "livenessProbe": {10, 6}} {
		p := container[resource.PropertyKey(probe)].ObjectValue()
		if got := [2]float64{p["periodSeconds"].NumberValue(), p["failureThreshold"].NumberValue()}; got != want {
			t.Errorf("%s every %v s, failing after %v, want %v", probe, got[0], got[1], want)
		}
	}
	if container["image"].StringValue() != registryRef {
		t.Errorf("registry image %v, want it by digest", container["image"])
	}
	if _, ok := pod["affinity"].ObjectValue()["podAntiAffinity"]; !ok {
		t.Errorf("no pod anti-affinity")
	}

	cm := named(t, rec, "kubernetes:core/v1:ConfigMap", "registry-config-")
	cfgYAML := cm["data"].ObjectValue()["config.yml"].StringValue()
	for _, s := range []string{"disable: true", "forcepathstyle: true", "regionendpoint: http://10.20.0.5:9000", "readonly:\n      enabled: true", "htpasswd:", "tls:"} {
		if !strings.Contains(cfgYAML, s) {
			t.Errorf("config.yml lacks %q:\n%s", s, cfgYAML)
		}
	}
	cmName := cm["metadata"].ObjectValue()["name"].StringValue()
	volName := pod["volumes"].ArrayValue()[0].ObjectValue()["configMap"].ObjectValue()["name"].StringValue()
	if volName != cmName {
		t.Errorf("deployment mounts ConfigMap %q, declared %q", volName, cmName)
	}

	assertNoPlaintextSecrets(t, rec, s3Secret, s3Access, HTTPSecret(testConfig(t, `{"kind":"external","endpoint":"http://10.20.0.5:9000"}`)),
		caKey, certKey, pullPassword, pushPassword, "HASH-OF-")

	ns := rec.One(t, "kubernetes:core/v1:Namespace")["metadata"].ObjectValue()["labels"].ObjectValue()
	if ns["pod-security.kubernetes.io/enforce"].StringValue() != "restricted" {
		t.Errorf("registry namespace does not enforce the restricted standard: %v", ns)
	}
	cert := rec.One(t, contract.CertificateToken)
	var ips []string
	for _, ip := range cert["ipAddresses"].ArrayValue() {
		ips = append(ips, ip.StringValue())
	}
	if strings.Join(ips, ",") != "10.20.0.11,10.20.0.12" || !strings.Contains(fmt.Sprint(cert["dnsNames"]), "registry.airgap-registry.svc") {
		t.Errorf("serving certificate names %v and %v, want every node and the Services", ips, cert["dnsNames"])
	}
}

// named is the one resource of a type whose metadata.name starts with prefix (exactly, when
// the prefix is a whole name).
func named(t *testing.T, rec *mocktest.Recorder, token, prefix string) resource.PropertyMap {
	t.Helper()
	var found []resource.PropertyMap
	for _, r := range rec.OfType(token) {
		n := r.Inputs["metadata"].ObjectValue()["name"].StringValue()
		if n == prefix || strings.HasSuffix(prefix, "-") && strings.HasPrefix(n, prefix) {
			found = append(found, r.Inputs)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s named %s, want 1", len(found), token, prefix)
	}
	return found[0]
}

// assertHardened checks a pod template against the restricted Pod Security Standard and the
// rest of the registry's hardening.
func assertHardened(t *testing.T, name string, template resource.PropertyMap) {
	t.Helper()
	pod := template["spec"].ObjectValue()
	psc := pod["securityContext"].ObjectValue()
	if pod["automountServiceAccountToken"].BoolValue() || !pod["automountServiceAccountToken"].IsBool() {
		t.Errorf("%s: service account token mounted", name)
	}
	if !psc["runAsNonRoot"].BoolValue() || psc["runAsUser"].NumberValue() == 0 ||
		psc["seccompProfile"].ObjectValue()["type"].StringValue() != "RuntimeDefault" {
		t.Errorf("%s: pod security context %v", name, psc)
	}
	c := pod["containers"].ArrayValue()[0].ObjectValue()
	sc := c["securityContext"].ObjectValue()
	if !sc["readOnlyRootFilesystem"].BoolValue() || sc["allowPrivilegeEscalation"].BoolValue() ||
		len(sc["capabilities"].ObjectValue()["drop"].ArrayValue()) != 1 || sc["capabilities"].ObjectValue()["drop"].ArrayValue()[0].StringValue() != "ALL" {
		t.Errorf("%s: container security context %v", name, sc)
	}
	if template["metadata"].ObjectValue()["annotations"].ObjectValue()["airgap-site/credentials-revision"].IsNull() {
		t.Errorf("%s: pods do not roll with the credentials", name)
	}
}

func TestTenantSiteGraph(t *testing.T) {
	c := testConfig(t, `{"kind":"minio-tenant","tenant":{"servers":3,"volumesPerServer":2,"size":"20Gi"}}`)
	rec := deploy(t, c)
	crs := rec.OfType(tenantType)
	if len(crs) != 1 {
		t.Fatalf("%d custom resources, want 1 Tenant", len(crs))
	}
	cr := crs[0].Inputs
	if cr["apiVersion"].StringValue() != "minio.min.io/v2" || cr["kind"].StringValue() != "Tenant" {
		t.Errorf("custom resource is %v %v", cr["apiVersion"], cr["kind"])
	}
	spec := cr["spec"].ObjectValue()
	pool := spec["pools"].ArrayValue()[0].ObjectValue()
	if pool["servers"].NumberValue() != 3 || pool["volumesPerServer"].NumberValue() != 2 {
		t.Errorf("pool = %v", pool)
	}
	if spec["requestAutoCert"].BoolValue() || spec["buckets"].ArrayValue()[0].ObjectValue()["name"].StringValue() != "registry" {
		t.Errorf("tenant spec = %v", spec)
	}
	if got := len(rec.OfType("kubernetes:core/v1:Secret")); got != 7 {
		t.Errorf("%d Secrets, want 7 (tenant config, tenant user, pull and push registry credentials, TLS, 2 htpasswd)", got)
	}
	if spec["image"].StringValue() != minioRef {
		t.Errorf("tenant image %v, want it by digest", spec["image"])
	}
	if got := len(rec.OfType("kubernetes:core/v1:Namespace")); got != 2 {
		t.Errorf("%d Namespaces, want 2", got)
	}
	cfgYAML := named(t, rec, "kubernetes:core/v1:ConfigMap", "registry-config-")["data"].ObjectValue()["config.yml"].StringValue()
	if !strings.Contains(cfgYAML, "regionendpoint: http://minio.minio-tenant.svc.cluster.local:80") {
		t.Errorf("registry does not point at the tenant:\n%s", cfgYAML)
	}
	// The registry must not start before the tenant exists.
	dep := rec.OfType("kubernetes:apps/v1:Deployment")[0]
	found := false
	for _, d := range dep.RegisterRPC.GetDependencies() {
		found = found || strings.Contains(d, tenantType)
	}
	if !found {
		t.Errorf("deployment does not depend on the tenant: %v", dep.RegisterRPC.GetDependencies())
	}
	assertNoPlaintextSecrets(t, rec, s3Secret, s3Access, rootPassword)
}

func TestHTTPSecretStableAndDistinct(t *testing.T) {
	c := testConfig(t, `{"kind":"external","endpoint":"http://10.20.0.5:9000"}`)
	a := HTTPSecret(c)
	if a != HTTPSecret(c) || len(a) != 64 || strings.Contains(a, s3Secret) {
		t.Errorf("derived http secret %q", a)
	}
	c.Site = "nagoya"
	if HTTPSecret(c) == a {
		t.Errorf("two sites share an http secret")
	}
	c.Secrets.RegistryHTTPSecret = siteconfig.NewSecret("explicit")
	if HTTPSecret(c) != "explicit" {
		t.Errorf("configured http secret ignored")
	}
}

// assertNoPlaintextSecrets walks every input of every resource: a secret value may appear
// only inside a value marked secret, so it is encrypted in state.
func assertNoPlaintextSecrets(t *testing.T, rec *mocktest.Recorder, secrets ...string) {
	t.Helper()
	var walk func(where string, v resource.PropertyValue)
	walk = func(where string, v resource.PropertyValue) {
		switch {
		case v.IsSecret():
			return
		case v.IsString():
			for _, s := range secrets {
				if strings.Contains(v.StringValue(), s) {
					t.Errorf("plaintext secret in %s", where)
				}
			}
		case v.IsArray():
			for i, e := range v.ArrayValue() {
				walk(fmt.Sprintf("%s[%d]", where, i), e)
			}
		case v.IsObject():
			for k, e := range v.ObjectValue() {
				walk(where+"."+string(k), e)
			}
		}
	}
	for _, res := range rec.Resources {
		for k, v := range res.Inputs {
			walk(res.TypeToken+" "+res.Name+"."+string(k), v)
		}
		if res.TypeToken == "kubernetes:core/v1:ConfigMap" {
			for k, v := range res.Inputs["data"].ObjectValue() {
				if v.IsSecret() {
					t.Errorf("ConfigMap key %s holds a secret", k)
				}
			}
		}
	}
}

// assertS3Identities checks that the pull Deployment reads pullKey and the push Deployment
// pushKey, each from a Secret of its own.
func assertS3Identities(t *testing.T, rec *mocktest.Recorder, pullKey, pushKey string) {
	t.Helper()
	for dep, want := range map[string]struct{ secret, key string }{
		"registry": {"registry-credentials", pullKey}, "registry-push": {"registry-push-credentials", pushKey},
	} {
		container := named(t, rec, "kubernetes:apps/v1:Deployment", dep)["spec"].ObjectValue()["template"].ObjectValue()["spec"].ObjectValue()["containers"].ArrayValue()[0].ObjectValue()
		for _, e := range container["env"].ArrayValue() {
			env := e.ObjectValue()
			if vf, ok := env["valueFrom"]; ok && vf.ObjectValue()["secretKeyRef"].ObjectValue()["name"].StringValue() != want.secret {
				t.Errorf("%s: %s from Secret %v, want %s", dep, env["name"].StringValue(), vf, want.secret)
			}
		}
		unwrap := func(v resource.PropertyValue) resource.PropertyValue {
			for v.IsSecret() {
				v = v.SecretValue().Element
			}
			return v
		}
		data := unwrap(named(t, rec, "kubernetes:core/v1:Secret", want.secret)["stringData"]).ObjectValue()
		if v := unwrap(data["s3-access-key"]); !v.IsString() || v.StringValue() != want.key {
			t.Errorf("Secret %s: s3-access-key %v, want %q", want.secret, v, want.key)
		}
	}
}

// TestBundlePinnedPodsWaitForTheAcceptedBundle: the accepted bundle (whose Diff refuses an
// older bundle) comes before everything taken from the bundle: the registry and MinIO pods
// pinned from it, and every image copy. Else an `up --skip-preview` with an older bundle could
// roll the registry back to its image before the refusal.
func TestBundlePinnedPodsWaitForTheAcceptedBundle(t *testing.T) {
	_, pub, err := signing.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	images, err := json.Marshal(map[string]any{"bundle": "bundle", "trustedKeys": []string{string(pub)}, "list": []string{"docker.io/library/nginx:1.27"}})
	if err != nil {
		t.Fatal(err)
	}
	src := siteconfigtest.Source(siteconfigtest.TwoNodes)
	src.Values[siteconfig.KeyObjectStore] = `{"kind":"minio-tenant"}`
	src.Values[siteconfig.KeyImages] = string(images)
	siteconfigtest.SetSecret(src, siteconfig.KeyS3AccessKey, s3Access)
	siteconfigtest.SetSecret(src, siteconfig.KeyS3SecretKey, s3Secret)
	siteconfigtest.SetSecret(src, siteconfig.KeyMinioRootUser, "minio-admin")
	siteconfigtest.SetSecret(src, siteconfig.KeyMinioRootPassword, rootPassword)
	rec := deploy(t, siteconfigtest.Load(t, src))

	if n := len(rec.OfType(contract.AcceptedBundleToken)); n != 1 {
		t.Fatalf("%d accepted bundles, want 1", n)
	}
	var waiting []pulumi.MockResourceArgs
	for _, token := range []string{"kubernetes:apps/v1:Deployment", tenantType, contract.ImageToken} {
		rs := rec.OfType(token)
		if len(rs) == 0 {
			t.Errorf("no %s declared", token)
		}
		waiting = append(waiting, rs...)
	}
	for _, r := range waiting {
		if !slices.ContainsFunc(r.RegisterRPC.GetDependencies(), func(d string) bool {
			return strings.Contains(d, contract.AcceptedBundleToken)
		}) {
			t.Errorf("%s %s does not wait for the accepted bundle: %v", r.TypeToken, r.Name, r.RegisterRPC.GetDependencies())
		}
	}
}
