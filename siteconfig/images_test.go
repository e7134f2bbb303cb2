package siteconfig_test

import (
	"slices"
	"strings"
	"testing"

	. "airgap-site/siteconfig"
)

// TestAllowDowngradeWarns: images.allowDowngrade is read, and every preview warns while it is
// set; without it nothing is said.
func TestAllowDowngradeWarns(t *testing.T) {
	s := validSource()
	s.Values[KeyImages] = `{"bundle":"b","trustedKeys":["site.pub"],"allowDowngrade":true,"list":["docker.io/library/nginx:1.27"]}`
	c, warnings, err := Load(s, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Images.AllowDowngrade {
		t.Errorf("images.allowDowngrade not read")
	}
	if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "images.allowDowngrade is true") }) {
		t.Errorf("no warning: %v", warnings)
	}
	s.Values[KeyImages] = `{"bundle":"b","trustedKeys":["site.pub"],"list":["docker.io/library/nginx:1.27"]}`
	if _, warnings, _ := Load(s, "osaka"); slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "allowDowngrade") }) {
		t.Errorf("a warning without allowDowngrade: %v", warnings)
	}
}
