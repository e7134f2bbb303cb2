package stackconfig

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"airgap-site/siteconfig"
)

func TestSource(t *testing.T) {
	src := Source(auto.ConfigMap{
		"airgap-site:nodes":       {Value: `[{"name":"cp-1","ip":"10.20.0.11","role":"controlplane"}]`},
		"airgap-site:s3SecretKey": {Value: "registry-secret-key", Secret: true},
		"kubernetes:context":      {Value: "other project's key"},
	})
	if v, ok := src.Get(siteconfig.KeyNodes); !ok || v == "" {
		t.Errorf("nodes not read: %q", v)
	}
	if !src.IsSecret(siteconfig.KeyS3SecretKey) || src.IsSecret(siteconfig.KeyNodes) {
		t.Errorf("secret flags wrong: %+v", src.Secret)
	}
	if _, ok := src.Get("context"); ok || len(src.Values) != 2 {
		t.Errorf("a key of another namespace was read: %+v", src.Values)
	}
}

// Keys lists the project's keys only, misspelt ones included, for the program to refuse.
func TestKeys(t *testing.T) {
	keys := Keys(auto.ConfigMap{
		"airgap-site:regsitry":    {Value: "{}"},
		"airgap-site:s3SecretKey": {Value: "x", Secret: true},
		"kubernetes:context":      {Value: "other project's key"},
	})
	if len(keys) != 2 || keys[0] != "regsitry" || keys[1] != "s3SecretKey" {
		t.Errorf("Keys = %v", keys)
	}
}
