package site

import (
	"strings"
	"testing"
)

// The program lists the project's keys from $PULUMI_CONFIG, so siteconfig.Load can refuse a
// misspelt top-level key; other projects' keys are not its business.
func TestConfigKeys(t *testing.T) {
	env := `{"airgap-site:nodes":"[]","airgap-site:regsitry":"{}","kubernetes:context":"x","airgap-site:s3AccessKey":"k"}`
	if got := strings.Join(configKeys(env), ","); got != "nodes,regsitry,s3AccessKey" {
		t.Errorf("configKeys = %s", got)
	}
	if configKeys("") != nil || configKeys("not json") != nil {
		t.Errorf("no config must list no keys")
	}
}
