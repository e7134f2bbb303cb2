package main

import (
	"bytes"
	"strings"
	"testing"

	"airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
)

// runAirgap runs the CLI with args in this process and returns its output and error.
func runAirgap(args ...string) (string, error) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// Each site operation is a subcommand with its own flags: `up --help` shows up's, and a flag
// that does not apply to an operation is an error instead of being ignored.
func TestSiteSubcommandFlags(t *testing.T) {
	help, err := runAirgap("site", "up", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"airgap site up", "--expect-no-changes", "--policy-pack", "--diff", "--stack", "--project"} {
		if !strings.Contains(help, want) {
			t.Errorf("site up --help lacks %q:\n%s", want, help)
		}
	}
	help, err = runAirgap("site", "destroy", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, unwanted := range []string{"--policy-pack", "--expect-no-changes", "--diff"} {
		if strings.Contains(help, unwanted) {
			t.Errorf("site destroy --help shows %q:\n%s", unwanted, help)
		}
	}
	help, _ = runAirgap("site", "--help")
	for _, sub := range []string{"preview", "up", "refresh", "destroy", "patch", "gc"} {
		if !strings.Contains(help, "  "+sub+" ") {
			t.Errorf("site --help does not list %s:\n%s", sub, help)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"site", "destroy", "-s", "osaka", "--policy-pack", "pack"}, "unknown flag: --policy-pack"},
		{[]string{"site", "refresh", "-s", "osaka", "--expect-no-changes"}, "unknown flag: --expect-no-changes"},
		{[]string{"site", "patch", "-s", "osaka", "--diff"}, "unknown flag: --diff"},
		{[]string{"site", "frobnicate", "-s", "osaka"}, `unknown command "frobnicate"`},
		{[]string{"site", "preview", "extra"}, `unknown command "extra"`},
		{[]string{"site", "up"}, "--stack is required"},
		{[]string{"site", "gc"}, "--stack is required"},
		{[]string{"site", "gc", "-s", "osaka", "extra"}, `unknown command "extra"`},
		{[]string{"site", "gc", "-s", "osaka", "--policy-pack", "pack"}, "unknown flag: --policy-pack"},
		{[]string{"site", "gc", "-s", "osaka", "--timeout", "ten"}, `invalid argument "ten" for "--timeout"`},
		{[]string{"site", "gc", "-s", "osaka", "--timeout", "-1m"}, "--timeout -1m0s: must not be negative"},
	} {
		if _, err := runAirgap(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("airgap %s: err = %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// Before the first up, a patch without the laptop would leave the nodes with mirrors to a
// registry that does not exist (and skipFallback): it is refused, saying what to do; with
// bootstrap.endpoint the bootstrap patch ends every mirror with the laptop.
func TestFirstVisitPatchNeedsTheLaptop(t *testing.T) {
	src := siteconfigtest.Source(siteconfigtest.TwoNodes)
	_, err := firstVisitPatch(siteconfigtest.Load(t, src))
	if err == nil {
		t.Fatal("a first-visit patch without bootstrap.endpoint was printed")
	}
	for _, want := range []string{"bootstrap.endpoint", "airgap serve", "could pull nothing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	src = siteconfigtest.Source(siteconfigtest.TwoNodes)
	src.Values[siteconfig.KeyRegistry] = `{"plainHTTP":true}`
	src.Values[siteconfig.KeyBootstrap] = `{"endpoint":"http://10.20.0.100:5000"}`
	patch, err := firstVisitPatch(siteconfigtest.Load(t, src))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(patch), "10.20.0.100:5000") {
		t.Errorf("the bootstrap patch does not end with the laptop:\n%s", patch)
	}
}
