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
	if want := []string{"repository", "tag"}; !reflect.DeepEqual(got, want) {
		t.Errorf("required inputs = %v, want %v", got, want)
	}
	if s := Image.Secrets(); len(s) != 0 {
		t.Errorf("secrets = %v: an image holds none, the provider holds the password", s)
	}
	i := slices.IndexFunc(Image.Outputs, func(p Property) bool { return p.Name == "inventory" })
	if i < 0 || Image.Outputs[i].Type != "object" || Image.Outputs[i].Items != "number" {
		t.Errorf("inventory is not a map of numbers: %+v", Image.Outputs)
	}
}

// TestImageIdentity: an image is its repository and tag in the site registry, and only what is
// its own is an input: the site's settings are the provider's, and the inputs of provider 0.4
// that moved there are no property any more (the provider ignores them in old states).
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
	for _, legacy := range LegacyImageInputs {
		if slices.ContainsFunc(Image.All(), func(p Property) bool { return p.Name == legacy }) {
			t.Errorf("%s is still a property of Image", legacy)
		}
	}
}

// TestProviderConfiguration: every site-wide setting is the provider's, none replaces (a
// replaced provider replaces every image), and the password is secret.
func TestProviderConfiguration(t *testing.T) {
	for _, name := range []string{"endpoints", "insecure", "ca", "username", "password", "bundle", "trustedKeys", "allowUnsigned", "jobs", "retryFor", "requestTimeout"} {
		if !slices.ContainsFunc(Provider.Inputs, func(p Property) bool { return p.Name == name }) {
			t.Errorf("%s is not a provider setting", name)
		}
	}
	for _, p := range Provider.Inputs {
		if p.Replace || p.Required {
			t.Errorf("%s: replace=%v required=%v", p.Name, p.Replace, p.Required)
		}
	}
	if s := Provider.Secrets(); !reflect.DeepEqual(s, []string{"password"}) {
		t.Errorf("secrets = %v", s)
	}
	if len(Provider.Outputs) != 0 || Provider.Token != "pulumi:providers:"+Name {
		t.Errorf("provider = %+v", Provider)
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
			A *string `prop:"a"`
		}{},
		"map by ints": struct {
			A map[int]string `prop:"a"`
		}{},
		"map of maps": struct {
			A map[string]map[string]int `prop:"a"`
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
