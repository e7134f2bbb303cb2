package contract

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestVersionIsSemver(t *testing.T) {
	// The scripts pass it to `pulumi plugin install`, which wants a bare semver.
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(Version) {
		t.Errorf("Version = %q (file VERSION), want MAJOR.MINOR.PATCH", Version)
	}
}

func TestResources(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Resources {
		if !strings.HasPrefix(r.Token, Name+":index:") || seen[r.Token] {
			t.Errorf("token %q: want a unique %s:index:<Type>", r.Token, Name)
		}
		seen[r.Token] = true
		if r.Description == "" {
			t.Errorf("%s: no description", r.Token)
		}
		for _, p := range r.All() {
			if p.Description == "" {
				t.Errorf("%s: %s has no description", r.Token, p.Name)
			}
		}
	}
}

func TestImage(t *testing.T) {
	var got []string
	for _, p := range Image.Inputs {
		if p.Required {
			got = append(got, p.Name)
		}
	}
	if want := []string{"endpoints", "repository", "tag"}; !reflect.DeepEqual(got, want) {
		t.Errorf("required inputs = %v, want %v", got, want)
	}
	if s := Image.Secrets(); !reflect.DeepEqual(s, []string{"password"}) {
		t.Errorf("secrets = %v", s)
	}
	i := slices.IndexFunc(Image.Inputs, func(p Property) bool { return p.Name == "mountFrom" })
	if i < 0 || Image.Inputs[i].Type != "array" || Image.Inputs[i].Items != "string" {
		t.Errorf("mountFrom is not an array of strings: %+v", Image.Inputs)
	}
}

// TestImageIdentity: an image is its repository and tag in the site registry. The addresses it
// is reached at are not replace-on-change (a new node order would otherwise replace every
// image, and the replacement's delete would remove what its create wrote), and the input they
// replaced is no property any more: the provider reads it from old states only.
func TestImageIdentity(t *testing.T) {
	var replace []string
	for _, p := range Image.Inputs {
		if p.Replace {
			replace = append(replace, p.Name)
		}
	}
	if want := []string{"repository", "tag"}; !reflect.DeepEqual(replace, want) {
		t.Errorf("replace-on-change inputs = %v, want %v", replace, want)
	}
	i := slices.IndexFunc(Image.Inputs, func(p Property) bool { return p.Name == "endpoints" })
	if i < 0 || Image.Inputs[i].Type != "array" || Image.Inputs[i].Items != "string" || !Image.Inputs[i].Required {
		t.Errorf("endpoints is not a required array of strings: %+v", Image.Inputs)
	}
	if slices.ContainsFunc(Image.All(), func(p Property) bool { return p.Name == LegacyRegistry }) {
		t.Errorf("%s is still a property", LegacyRegistry)
	}
}

func TestMalformedDeclarations(t *testing.T) {
	cases := map[string]any{
		"no prop tag": struct{ A string }{},
		"empty": struct {
			A string `prop:",required"`
		}{},
		"unknown option": struct {
			A string `prop:"a,optional"`
		}{},
		"unsupported type": struct {
			A map[string]string `prop:"a"`
		}{},
		"array of arrays": struct {
			A [][]string `prop:"a"`
		}{},
		"not a struct": "a",
	}
	for name, v := range cases {
		if _, err := properties(reflect.TypeOf(v)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDuplicateName(t *testing.T) {
	type in struct {
		A string `prop:"a"`
	}
	defer func() {
		if recover() == nil {
			t.Error("an output shadowing an input was accepted")
		}
	}()
	define[in, in]("airgap:index:X", "x")
}

// TestAcceptedBundleNeverReplaced: a replacement would create a new state without the highest
// sequence, forgetting every bundle accepted before.
func TestAcceptedBundleNeverReplaced(t *testing.T) {
	for _, p := range AcceptedBundle.Inputs {
		if p.Replace {
			t.Errorf("%s is replace-on-change", p.Name)
		}
	}
	if s := AcceptedBundle.Secrets(); len(s) != 0 {
		t.Errorf("secrets = %v", s)
	}
}
