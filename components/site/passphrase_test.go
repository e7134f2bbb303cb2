package site

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/internal/mocktest"
)

func TestCheckPassphrase(t *testing.T) {
	dir := t.TempDir()
	devFile, ownFile := filepath.Join(dir, "dev"), filepath.Join(dir, "own")
	if err := os.WriteFile(devFile, []byte("airgap-dev\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ownFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, stack string
		env         map[string]string
		refused     bool
	}{
		{"dev stack, dev passphrase", "dev", map[string]string{"PULUMI_CONFIG_PASSPHRASE": "airgap-dev"}, false},
		{"site, dev passphrase", "osaka", map[string]string{"PULUMI_CONFIG_PASSPHRASE": "airgap-dev"}, true},
		{"site, dev passphrase in a file", "osaka", map[string]string{"PULUMI_CONFIG_PASSPHRASE_FILE": devFile}, true},
		{"site, its own passphrase", "osaka", map[string]string{"PULUMI_CONFIG_PASSPHRASE": "s3cret"}, false},
		{"site, its own passphrase in a file", "osaka", map[string]string{"PULUMI_CONFIG_PASSPHRASE_FILE": ownFile}, false},
		// The CLI takes the variable before the file; so does the check.
		{"variable wins over the file", "osaka", map[string]string{"PULUMI_CONFIG_PASSPHRASE": "airgap-dev", "PULUMI_CONFIG_PASSPHRASE_FILE": ownFile}, true},
		{"site, empty passphrase", "osaka", map[string]string{"PULUMI_CONFIG_PASSPHRASE": ""}, false},
		{"test bed copy of dev", "kwok", map[string]string{"PULUMI_CONFIG_PASSPHRASE": "airgap-dev", "AIRGAP_TEST_BED": "1"}, false},
		{"test bed switch not exactly 1", "osaka", map[string]string{"PULUMI_CONFIG_PASSPHRASE": "airgap-dev", "AIRGAP_TEST_BED": "yes"}, true},
	}
	for _, c := range cases {
		err := CheckPassphrase(c.stack, func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if (err != nil) != c.refused {
			t.Errorf("%s: err = %v, want refused=%v", c.name, err, c.refused)
		}
		if err != nil && !strings.Contains(err.Error(), "refusing the dev passphrase for stack "+c.stack) {
			t.Errorf("%s: unclear message: %v", c.name, err)
		}
	}
	err := CheckPassphrase("osaka", func(k string) (string, bool) {
		return filepath.Join(dir, "missing"), k == "PULUMI_CONFIG_PASSPHRASE_FILE"
	})
	if err == nil || !strings.Contains(err.Error(), "PULUMI_CONFIG_PASSPHRASE_FILE") {
		t.Errorf("unreadable passphrase file: err = %v", err)
	}
}

// The program itself refuses, before it reads config or declares anything.
func TestProgramRefusesDevPassphrase(t *testing.T) {
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", DevPassphrase)
	t.Setenv(EnvTestBed, "")
	var r mocktest.Recorder
	err := pulumi.RunErr(Program, pulumi.WithMocks("airgap-site", "osaka", &r))
	if err == nil || !strings.Contains(err.Error(), "refusing the dev passphrase for stack osaka") {
		t.Fatalf("Program on stack osaka with the dev passphrase: err = %v", err)
	}
	if len(r.Resources) != 0 {
		t.Errorf("Program declared %d resources before refusing", len(r.Resources))
	}
}
