package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"airgap-site/talosconfig"
)

// WriteHosts writes containerd's registry hosts directory from a mirror model the way Talos
// does on a node: one directory per registry host (named host[:port]) holding a hosts.toml
// whose [host] entries are the mirror's endpoints in order, with override_path. server, the
// upstream containerd falls back to last, is meant to be a dead loopback address in tests, so
// nothing ever leaves the machine.
func WriteHosts(dir string, m *talosconfig.Mirrors, server string) error {
	tlsByHost := map[string]talosconfig.Host{}
	for _, h := range m.Hosts {
		tlsByHost[h.Host] = h
	}
	for _, mir := range m.Mirrors {
		hostDir := filepath.Join(dir, mir.Key)
		if err := os.MkdirAll(hostDir, 0o755); err != nil {
			return err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "# Mirror %q, as Talos renders it for containerd.\nserver = %q\n", mir.Key, server)
		for _, e := range mir.Endpoints {
			fmt.Fprintf(&b, "\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", e.URL)
			if mir.OverridePath {
				b.WriteString("  override_path = true\n")
			}
			h, ok := tlsByHost[e.Host]
			if !ok || !strings.HasPrefix(e.URL, "https://") {
				continue
			}
			if h.CA != "" {
				caPath := filepath.Join(hostDir, strings.ReplaceAll(e.Host, ":", "_")+"-ca.crt")
				if err := os.WriteFile(caPath, []byte(h.CA), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(&b, "  ca = %q\n", caPath)
			}
			if h.InsecureSkipVerify {
				b.WriteString("  skip_verify = true\n")
			}
		}
		if err := os.WriteFile(filepath.Join(hostDir, "hosts.toml"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
