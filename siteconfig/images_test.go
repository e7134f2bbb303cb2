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

// TestLinkBytesPerSecond: images.linkBytesPerSecond is read as a rate; 0, a negative rate or
// a text with a unit is refused, naming the field; unset, the rate is 0 (not known).
func TestLinkBytesPerSecond(t *testing.T) {
	images := func(rate string) string {
		return `{"bundle":"b","trustedKeys":["site.pub"],"linkBytesPerSecond":` + rate + `,"list":["docker.io/library/nginx:1.27"]}`
	}
	s := validSource()
	s.Values[KeyImages] = images("250000")
	c, _, err := Load(s, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	if c.Images.LinkRate() != 250000 {
		t.Errorf("LinkRate = %d, want 250000", c.Images.LinkRate())
	}
	for rate, want := range map[string]string{
		"0":        "images.linkBytesPerSecond: 0: the link's rate in bytes per second, above 0",
		"-1":       "images.linkBytesPerSecond: -1: the link's rate",
		`"2Mbit"`:  "images.linkBytesPerSecond: expected a whole number",
		"1.5":      "images.linkBytesPerSecond: expected a whole number",
		`"250000"`: "write it without quotes",
	} {
		s.Values[KeyImages] = images(rate)
		if _, _, err := Load(s, "osaka"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("linkBytesPerSecond: %s: err = %v, want %q", rate, err, want)
		}
	}
	s.Values[KeyImages] = `{"bundle":"b","trustedKeys":["site.pub"],"list":["docker.io/library/nginx:1.27"]}`
	if c, _, err := Load(s, "osaka"); err != nil || c.Images.LinkRate() != 0 {
		t.Errorf("unset: LinkRate = %v, %v; want 0", c, err)
	}
	// An up goes at the link's rate, or at images.maxBytesPerSecond when that cap is lower.
	link := int64(250000)
	for _, c := range []struct {
		im   Images
		rate int64
		from string
	}{
		{Images{}, 0, ""},
		{Images{MaxBytesPerSecond: 100000}, 0, ""},
		{Images{LinkBytesPerSecond: &link}, 250000, "images.linkBytesPerSecond"},
		{Images{LinkBytesPerSecond: &link, MaxBytesPerSecond: 500000}, 250000, "images.linkBytesPerSecond"},
		{Images{LinkBytesPerSecond: &link, MaxBytesPerSecond: 100000}, 100000, "images.maxBytesPerSecond"},
	} {
		if rate, from := c.im.UpRate(); rate != c.rate || from != c.from {
			t.Errorf("UpRate of link %v, cap %d = %d, %q; want %d, %q", c.im.LinkBytesPerSecond, c.im.MaxBytesPerSecond, rate, from, c.rate, c.from)
		}
	}
}

// TestKeptDefaults: unset keeps one previous version per repository; 0 is kept as 0.
func TestKeptDefaults(t *testing.T) {
	zero, three := 0, 3
	for _, tc := range []struct {
		im   Images
		want int
	}{{Images{}, DefaultKeepPrevious}, {Images{KeepPrevious: &zero}, 0}, {Images{KeepPrevious: &three}, 3}} {
		if got := tc.im.Kept(); got != tc.want {
			t.Errorf("Kept() of %v = %d, want %d", tc.im.KeepPrevious, got, tc.want)
		}
	}
}
