package minio

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/internal/mocktest"
	"airgap-site/components/internal/pulumischema"
)

const (
	rootUser     = "ROOT-USER-0001"
	rootPassword = "ROOT-PASSWORD-0001"
	pushAccess   = "PUSH-ACCESS-0001"
	pushSecret   = "PUSH-SECRET-0001"
	pullAccess   = "PULL-ACCESS-0001"
	pullSecret   = "PULL-SECRET-0001"
)

func deployUsers(t *testing.T) (*mocktest.Recorder, *BucketUsers) {
	t.Helper()
	rec := &mocktest.Recorder{}
	var users *BucketUsers
	rec.Run(t, func(ctx *pulumi.Context) error {
		var err error
		users, err = NewBucketUsers(ctx, "osaka", BucketUsersArgs{
			Admin: Admin{
				Server: "127.0.0.1:9000", Region: "us-east-1",
				User: pulumi.String(rootUser), Password: pulumi.String(rootPassword),
			},
			Bucket: "registry",
			Push:   Identity{AccessKey: pulumi.String(pushAccess), SecretKey: pulumi.String(pushSecret)},
			Pull:   Identity{AccessKey: pulumi.String(pullAccess), SecretKey: pulumi.String(pullSecret)},
		})
		return err
	})
	return rec, users
}

// TestBindingsMatchPulumiMinioSchema checks every property our bindings send, by name and
// type, against pulumi-minio v0.17.1's schema (the provider's config too), and that every
// required input is sent.
func TestBindingsMatchPulumiMinioSchema(t *testing.T) {
	schema := pulumischema.Load(t, "testdata/schemas/pulumi-minio-v0.17.1-schema.json")
	rec, _ := deployUsers(t)
	sent := map[string][]resource.PropertyMap{}
	for _, r := range rec.Resources {
		sent[r.TypeToken] = append(sent[r.TypeToken], r.Inputs)
	}
	for _, tok := range []string{TokenProvider, TokenIamUser, TokenIamPolicy, TokenIamUserPolicyAttachment} {
		schema.Check(t, tok, sent[tok])
	}
	// What the resources need to be created at all (the schema marks none of them required).
	for tok, keys := range map[string][]string{
		TokenProvider:  {"minioServer", "minioUser", "minioPassword", "minioSsl"},
		TokenIamUser:   {"name", "secret"},
		TokenIamPolicy: {"name", "policy"},
	} {
		for _, inputs := range sent[tok] {
			for _, k := range keys {
				if _, ok := inputs[resource.PropertyKey(k)]; !ok {
					t.Errorf("%s: %q not sent", tok, k)
				}
			}
		}
	}
}

// TestCredentialsSentAsSecrets checks that the root credentials reach only the provider, as
// secrets, and that each user's keys are secrets; the policies name the bucket only.
func TestCredentialsSentAsSecrets(t *testing.T) {
	rec, _ := deployUsers(t)
	p := rec.One(t, TokenProvider)
	for k, want := range map[resource.PropertyKey]string{"minioUser": rootUser, "minioPassword": rootPassword} {
		if v := p[k]; !v.IsSecret() || v.SecretValue().Element.StringValue() != want {
			t.Errorf("provider %s = %v, want the secret %q", k, v, want)
		}
	}
	if p["minioServer"].StringValue() != "127.0.0.1:9000" || !p["minioSsl"].IsBool() || p["minioSsl"].BoolValue() {
		t.Errorf("provider server %v ssl %v", p["minioServer"], p["minioSsl"])
	}
	users := rec.OfType(TokenIamUser)
	if len(users) != 2 {
		t.Fatalf("%d users, want 2", len(users))
	}
	want := map[string][2]string{"osaka-push-user": {pushAccess, pushSecret}, "osaka-pull-user": {pullAccess, pullSecret}}
	for _, u := range users {
		keys, ok := want[u.Name]
		if !ok {
			t.Errorf("unexpected user %s", u.Name)
			continue
		}
		for i, k := range []resource.PropertyKey{"name", "secret"} {
			if v := u.Inputs[k]; !v.IsSecret() || v.SecretValue().Element.StringValue() != keys[i] {
				t.Errorf("%s.%s = %v, want the secret %q", u.Name, k, v, keys[i])
			}
		}
		if u.Provider == "" {
			t.Errorf("%s does not use the explicit provider", u.Name)
		}
	}
	for _, r := range rec.Resources {
		if r.TypeToken == TokenProvider {
			continue
		}
		for _, s := range []string{rootUser, rootPassword} {
			if containsPlain(resource.NewObjectProperty(r.Inputs), s) {
				t.Errorf("%s %s carries the root credential %q", r.TypeToken, r.Name, s)
			}
		}
	}
	// Each user gets the policy of its access, by name.
	atts := rec.OfType(TokenIamUserPolicyAttachment)
	if len(atts) != 2 {
		t.Fatalf("%d attachments, want 2", len(atts))
	}
	for _, a := range atts {
		user := a.Inputs["userName"]
		for user.IsSecret() {
			user = user.SecretValue().Element
		}
		wantPolicy := map[string]string{pushAccess: PolicyName("registry", ReadWrite), pullAccess: PolicyName("registry", ReadOnly)}[user.StringValue()]
		if wantPolicy == "" || a.Inputs["policyName"].StringValue() != wantPolicy {
			t.Errorf("attachment %s: user %v policy %v, want %q", a.Name, user, a.Inputs["policyName"], wantPolicy)
		}
	}
}

// containsPlain reports whether v holds s outside a secret.
func containsPlain(v resource.PropertyValue, s string) bool {
	switch {
	case v.IsSecret():
		return false
	case v.IsString():
		return v.StringValue() == s
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			if containsPlain(e, s) {
				return true
			}
		}
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			if containsPlain(e, s) {
				return true
			}
		}
	}
	return false
}
