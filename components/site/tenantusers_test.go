package site

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"airgap-site/components/minio"
	"airgap-site/siteconfig/siteconfigtest"
)

// TestTenantUsersSiteGraph: with objectStore.tenant.adminEndpoint the stack declares the
// tenant's registry users through pulumi-minio instead of the operator's consoleAdmin user:
// the root credentials only in the explicit provider's config (secret) and the tenant's own
// configuration Secret, a read-write push user and a read-only pull user with their bucket
// policies, and each registry Deployment reading its own user's keys from its own Secret, after
// the users exist.
func TestTenantUsersSiteGraph(t *testing.T) {
	c := testConfig(t, `{"kind":"minio-tenant","tenant":{"adminEndpoint":"http://127.0.0.1:9000"}}`)
	rec := deploy(t, c)
	unwrap := func(v resource.PropertyValue) resource.PropertyValue {
		for v.IsSecret() {
			v = v.SecretValue().Element
		}
		return v
	}

	p := rec.One(t, minio.TokenProvider)
	if p["minioServer"].StringValue() != "127.0.0.1:9000" || p["minioSsl"].BoolValue() {
		t.Errorf("provider server %v ssl %v", p["minioServer"], p["minioSsl"])
	}
	if !p["minioPassword"].IsSecret() || unwrap(p["minioPassword"]).StringValue() != rootPassword ||
		!p["minioUser"].IsSecret() || unwrap(p["minioUser"]).StringValue() != "minio-admin" {
		t.Errorf("provider credentials %v / %v, want the root credentials as secrets", p["minioUser"], p["minioPassword"])
	}

	users := map[string]string{}
	for _, u := range rec.OfType(minio.TokenIamUser) {
		if !u.Inputs["name"].IsSecret() || !u.Inputs["secret"].IsSecret() {
			t.Errorf("%s: keys not sent as secrets", u.Name)
		}
		users[unwrap(u.Inputs["name"]).StringValue()] = unwrap(u.Inputs["secret"]).StringValue()
	}
	if len(users) != 2 || users[s3Access] != s3Secret || users[siteconfigtest.S3PullAccessKey] != siteconfigtest.S3PullSecretKey {
		t.Errorf("users %v, want the push and the pull identity", users)
	}
	policies := map[string]string{}
	for _, r := range rec.OfType(minio.TokenIamPolicy) {
		policies[r.Inputs["name"].StringValue()] = r.Inputs["policy"].StringValue()
	}
	for _, access := range []minio.Access{minio.ReadOnly, minio.ReadWrite} {
		want, err := minio.Policy("registry", access)
		if err != nil {
			t.Fatal(err)
		}
		if got := policies[minio.PolicyName("registry", access)]; got != want {
			t.Errorf("%s policy:\n%s\nwant:\n%s", access, got, want)
		}
	}
	attached := map[string]string{}
	for _, a := range rec.OfType(minio.TokenIamUserPolicyAttachment) {
		attached[unwrap(a.Inputs["userName"]).StringValue()] = a.Inputs["policyName"].StringValue()
	}
	if attached[siteconfigtest.S3PullAccessKey] != minio.PolicyName("registry", minio.ReadOnly) ||
		attached[s3Access] != minio.PolicyName("registry", minio.ReadWrite) || len(attached) != 2 {
		t.Errorf("attachments %v", attached)
	}

	// No operator-made consoleAdmin user: no users in the Tenant, no user Secret.
	spec := rec.One(t, tenantType)["spec"].ObjectValue()
	if _, ok := spec["users"]; ok {
		t.Errorf("the Tenant still lists users: %v", spec["users"])
	}
	for _, s := range rec.OfType("kubernetes:core/v1:Secret") {
		if n := s.Inputs["metadata"].ObjectValue()["name"].StringValue(); strings.HasSuffix(n, "-registry-user") {
			t.Errorf("operator user Secret %s still declared", n)
		}
	}

	assertS3Identities(t, rec, siteconfigtest.S3PullAccessKey, s3Access)
	// (The fixture's pull access key, "registry-pull", is also the prefix of a Secret's name.)
	assertNoPlaintextSecrets(t, rec, s3Secret, s3Access, rootPassword, siteconfigtest.S3PullSecretKey)

	// The root password is in the provider's config and the tenant's configuration Secret only.
	for _, r := range rec.Resources {
		if r.TypeToken == minio.TokenProvider || r.TypeToken == "kubernetes:core/v1:Secret" &&
			r.Inputs["metadata"].ObjectValue()["name"].StringValue() == "minio-env-configuration" {
			continue
		}
		if holds(resource.NewObjectProperty(r.Inputs), rootPassword) {
			t.Errorf("%s %s carries the root password", r.TypeToken, r.Name)
		}
	}

	// Both Deployments start only after the users and their policies exist.
	for _, dep := range rec.OfType("kubernetes:apps/v1:Deployment") {
		found := false
		for _, d := range dep.RegisterRPC.GetDependencies() {
			found = found || strings.Contains(d, minio.TokenIamUserPolicyAttachment)
		}
		if !found {
			t.Errorf("%s does not wait for the MinIO users: %v", dep.Name, dep.RegisterRPC.GetDependencies())
		}
	}
}

// holds reports whether v holds s anywhere, secret or not.
func holds(v resource.PropertyValue, s string) bool {
	switch {
	case v.IsSecret():
		return holds(v.SecretValue().Element, s)
	case v.IsString():
		return strings.Contains(v.StringValue(), s)
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			if holds(e, s) {
				return true
			}
		}
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			if holds(e, s) {
				return true
			}
		}
	}
	return false
}
