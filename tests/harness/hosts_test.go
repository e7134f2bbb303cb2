package harness

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/BurntSushi/toml"

	"airgap-site/talosconfig"
)

// TestWriteTalosHosts: the layout Talos writes for containerd 2 (GenerateHosts of Talos
// v1.12): host_port_ directories, mode 0600, endpoints in order as [host] entries, the last
// one the root entry when fallback is skipped, each https endpoint's CA in a file of its own.
func TestWriteTalosHosts(t *testing.T) {
	dir := t.TempDir()
	m := talosconfig.Build(talosconfig.Spec{
		Upstreams: []string{"docker.io", "registry.local:5443"},
		Nodes:     []string{"10.20.0.11:32000", "10.20.0.12:32000"},
		Scheme:    "https", CA: "CA PEM", Username: "pull", Password: "pw",
	})
	if err := WriteTalosHosts(dir, m); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"docker.io", "registry.local_5443_", "10.20.0.11_32000_", "10.20.0.12_32000_"} {
		if _, err := os.Stat(filepath.Join(dir, d, "hosts.toml")); err != nil {
			t.Errorf("no hosts.toml for %s: %v", d, err)
		}
	}
	path := filepath.Join(dir, "registry.local_5443_", "hosts.toml")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("hosts.toml mode: %v %v", fi, err)
	}
	type host struct {
		Capabilities []string
		OverridePath bool `toml:"override_path"`
		CA           string
	}
	var conf struct {
		Server string
		host
		Host map[string]host
	}
	md, err := toml.DecodeFile(path, &conf)
	if err != nil {
		t.Fatal(err)
	}
	first, last := "https://10.20.0.11:32000/v2/registry.local_5443", "https://10.20.0.12:32000/v2/registry.local_5443"
	if conf.Server != last || !conf.OverridePath || len(conf.Capabilities) != 2 || len(conf.Host) != 1 {
		t.Errorf("root entry %+v, hosts %v", conf, md.Keys())
	}
	h := conf.Host[first]
	if !h.OverridePath || h.CA != filepath.Join(dir, "registry.local_5443_", "10.20.0.11:32000-ca.crt") {
		t.Errorf("host %s: %+v", first, h)
	}
	if b, err := os.ReadFile(h.CA); err != nil || string(b) != "CA PEM" {
		t.Errorf("CA file: %q %v", b, err)
	}
	if conf.CA != filepath.Join(dir, "registry.local_5443_", "10.20.0.12:32000-ca.crt") {
		t.Errorf("root entry CA %q", conf.CA)
	}
	// Without skipFallback every endpoint is a [host] entry and the upstream stays the server.
	m.Mirrors[0].SkipFallback = false
	dir2 := t.TempDir()
	if err := WriteTalosHosts(dir2, &talosconfig.Mirrors{Mirrors: m.Mirrors[:1]}); err != nil {
		t.Fatal(err)
	}
	conf.Host, conf.Server = nil, ""
	if _, err := toml.DecodeFile(filepath.Join(dir2, "docker.io", "hosts.toml"), &conf); err != nil {
		t.Fatal(err)
	}
	if conf.Server != "" || len(conf.Host) != 2 {
		t.Errorf("without skipFallback: server %q, %d hosts", conf.Server, len(conf.Host))
	}
}
