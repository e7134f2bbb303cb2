package siteconfig_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airgap-site/signing"
	. "airgap-site/siteconfig"
)

// TestTrust: images.trustedKeys are PEM text or .pub paths relative to the project; a key that
// cannot be read or parsed is an error naming its field.
func TestTrust(t *testing.T) {
	_, pub, err := signing.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	project := t.TempDir()
	if err := os.WriteFile(filepath.Join(project, "office.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	im := Images{TrustedKeys: []string{string(pub), "office.pub"}, AllowUnsigned: true}
	pems, trust, err := im.Trust(project)
	if err != nil {
		t.Fatal(err)
	}
	if len(pems) != 2 || pems[1] != string(pub) || len(trust.Keys) != 2 || !trust.AllowUnsigned {
		t.Errorf("Trust = %d PEMs, %d keys, allowUnsigned %v", len(pems), len(trust.Keys), trust.AllowUnsigned)
	}
	for keys, want := range map[string]string{"missing.pub": "images.trustedKeys[1]: reading the public key", "-----BEGIN nonsense": "images.trustedKeys[1]: "} {
		im := Images{TrustedKeys: []string{string(pub), keys}}
		if _, _, err := im.Trust(project); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", keys, err, want)
		}
	}
}
