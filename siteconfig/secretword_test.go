package siteconfig_test

import (
	"slices"
	"strings"
	"testing"

	. "airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
)

// A secret whose value is a plain word (the example once suggested s3AccessKey registry) is
// warned about with the reason: Pulumi redacts every occurrence of it in the output.
func TestPlainWordSecretWarns(t *testing.T) {
	s := validSource()
	siteconfigtest.SetSecret(s, KeyS3AccessKey, "registry")
	_, warnings, err := Load(s, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(warnings, func(w string) bool {
		return strings.Contains(w, "s3AccessKey is a plain word") && strings.Contains(w, `every "registry" in previews and logs becomes [secret]`)
	}) {
		t.Errorf("no warning for a plain-word secret: %v", warnings)
	}
	_, warnings, _ = Load(validSource(), "osaka")
	if slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "plain word") }) {
		t.Errorf("a unique value warned: %v", warnings)
	}
}
