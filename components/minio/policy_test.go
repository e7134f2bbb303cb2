package minio

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"airgap-site/internal/golden"
)

func TestPolicyGolden(t *testing.T) {
	for _, access := range []Access{ReadOnly, ReadWrite} {
		doc, err := Policy("registry", access)
		if err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "policy-"+access.String()+".json", []byte(doc))
	}
}

// TestPolicyScope checks, independently of the golden files, that the read-only policy allows
// exactly the three reading actions, that neither policy names anything but the bucket and its
// objects, and that only the read-write one can write.
func TestPolicyScope(t *testing.T) {
	for _, access := range []Access{ReadOnly, ReadWrite} {
		doc, err := Policy("registry", access)
		if err != nil {
			t.Fatal(err)
		}
		var p policyDocument
		if err := json.Unmarshal([]byte(doc), &p); err != nil {
			t.Fatalf("%s: %v", access, err)
		}
		var actions []string
		for _, s := range p.Statement {
			if s.Effect != "Allow" {
				t.Errorf("%s: effect %q", access, s.Effect)
			}
			for _, r := range s.Resource {
				if r != "arn:aws:s3:::registry" && r != "arn:aws:s3:::registry/*" {
					t.Errorf("%s: resource %q is not the bucket", access, r)
				}
			}
			for _, a := range s.Action {
				if strings.Contains(a, "*") {
					t.Errorf("%s: wildcard action %q", access, a)
				}
			}
			actions = append(actions, s.Action...)
		}
		slices.Sort(actions)
		writes := slices.ContainsFunc(actions, func(a string) bool {
			return a == "s3:PutObject" || a == "s3:DeleteObject" || a == "s3:AbortMultipartUpload"
		})
		switch access {
		case ReadOnly:
			if want := []string{"s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"}; !slices.Equal(actions, want) {
				t.Errorf("read-only actions %v, want %v", actions, want)
			}
		case ReadWrite:
			if !writes {
				t.Errorf("read-write policy cannot write: %v", actions)
			}
		}
	}
	if _, err := Policy("", ReadOnly); err == nil || !strings.Contains(err.Error(), "bucket") {
		t.Errorf("empty bucket: %v", err)
	}
}
