package pulumischema

import (
	"fmt"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// recorder keeps the failures Check reports instead of failing.
type recorder struct{ errors []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestCheckCatchesDrift: a misspelt property, a wrong type, a missing required input and a
// token the schema lacks are each a failure; what matches the schema is none.
func TestCheckCatchesDrift(t *testing.T) {
	s := Load(t, "../../minio/testdata/schemas/pulumi-minio-v0.17.1-schema.json")
	const user, provider = "minio:index/iamUser:IamUser", "pulumi:providers:minio"
	str := resource.NewStringProperty
	for _, tc := range []struct {
		name, token string
		sent        []resource.PropertyMap
		fails       int
	}{
		{"matches", user, []resource.PropertyMap{{"name": str("u"), "secret": resource.MakeSecret(str("s"))}}, 0},
		{"misspelt", user, []resource.PropertyMap{{"nmae": str("u")}}, 1},
		{"wrong type", user, []resource.PropertyMap{{"name": resource.NewNumberProperty(1)}}, 1},
		{"never sent", user, nil, 1},
		{"unknown token", "minio:index/nope:Nope", []resource.PropertyMap{{}}, 1},
		{"provider with the engine's version", provider, []resource.PropertyMap{{"minioServer": str("h:9000"), "version": str("0.17.1")}}, 0},
		{"provider typo", provider, []resource.PropertyMap{{"minioServr": str("h:9000")}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			s.Check(r, tc.token, tc.sent)
			if len(r.errors) != tc.fails {
				t.Errorf("%d failures, want %d: %q", len(r.errors), tc.fails, r.errors)
			}
		})
	}
}
