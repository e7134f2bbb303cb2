package harness

import (
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"airgap-site/talosconfig"
)

// TestNodeCRIConfigMerge: the node's CRI config merged from its parts keeps containerd's
// sandbox pin beside the pinned images of the customization part, and carries the registry
// part's hosts directory and credentials under containerd 2's CRI images plugin.
func TestNodeCRIConfigMerge(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	patch, err := talosconfig.PinPatch([]talosconfig.Pin{{Name: "registry", Image: "docker.io/library/registry:3.1.2@" + digest}}, "v1.12.11")
	if err != nil {
		t.Fatal(err)
	}
	custom, _, err := talosconfig.ParsePinPatch(patch)
	if err != nil {
		t.Fatal(err)
	}
	m := &talosconfig.Mirrors{Hosts: []talosconfig.Host{{Host: "10.20.0.11:32000", Username: "pull", Password: "p\"w"}, {Host: "10.20.0.100:5000", CA: "x"}}}
	base := nodeBasePart(containerdConfig{Root: "/r", State: "/s", Socket: "/c.sock", HostsDir: "/h"}, "/cni")
	out, err := mergeTOML([]byte(base), []byte(RegistriesPart("/h", m)), []byte(custom))
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Version int
		Plugins map[string]struct {
			PinnedImages map[string]string `toml:"pinned_images"`
			Registry     struct {
				ConfigPath string `toml:"config_path"`
				Configs    map[string]struct {
					Auth struct{ Username, Password string }
				}
			}
			RestrictOOMScoreAdj bool `toml:"restrict_oom_score_adj"`
		}
	}
	if _, err := toml.Decode(string(out), &conf); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	images := conf.Plugins[criImages]
	if conf.Version != 3 || images.PinnedImages["sandbox"] != SandboxImage ||
		images.PinnedImages["airgap-site-registry"] != "docker.io/library/registry@"+digest {
		t.Errorf("pinned images %v (version %d)\n%s", images.PinnedImages, conf.Version, out)
	}
	if images.Registry.ConfigPath != "/h" || images.Registry.Configs["10.20.0.11:32000"].Auth.Password != "p\"w" || len(images.Registry.Configs) != 1 {
		t.Errorf("registry %+v", images.Registry)
	}
	if !conf.Plugins[criRuntime].RestrictOOMScoreAdj {
		t.Errorf("restrict_oom_score_adj is not set on the CRI runtime plugin")
	}
	if _, err := mergeTOML([]byte("[a\n")); err == nil || !strings.Contains(err.Error(), "part 1") {
		t.Errorf("a broken part: %v", err)
	}
}
