package harness

import (
	"context"
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

// CRIAuth is the CRI registry auth config of every host with credentials, as Talos writes it
// for containerd 1.x (registry.configs."<host>".auth of the io.containerd.grpc.v1.cri plugin):
// the loopback containerd's (Debian's 1.6); containerd reads it at start only. The real
// node's containerd 2.x gets RegistriesPart.
func CRIAuth(m *talosconfig.Mirrors) string {
	var b strings.Builder
	if m == nil {
		return ""
	}
	for _, h := range m.Hosts {
		if h.Username == "" {
			continue
		}
		fmt.Fprintf(&b, "  [plugins.\"io.containerd.grpc.v1.cri\".registry.configs.%q.auth]\n    username = %q\n    password = %q\n",
			h.Host, h.Username, h.Password)
	}
	return b.String()
}

// applyMirrors configures a containerd from a mirror model as Talos does on a node: the hosts
// directory is replaced whole, and when the credentials changed the CRI auth config (a file
// of mode 0600 that the containerd's start step reads, rendered by auth for that containerd's
// generation) is rewritten and containerd restarted.
func (s *Site) applyMirrors(ctx context.Context, hostsDir string, m *talosconfig.Mirrors, server, part string,
	start func(context.Context, Options) error, auth func(*talosconfig.Mirrors) string) error {
	if err := os.RemoveAll(hostsDir); err != nil {
		return err
	}
	if err := WriteHosts(hostsDir, m, server); err != nil {
		return err
	}
	authPath := criAuthPath(hostsDir)
	conf := auth(m)
	if old, err := os.ReadFile(authPath); err == nil && string(old) == conf || os.IsNotExist(err) && conf == auth(nil) {
		return nil
	}
	if err := os.WriteFile(authPath, []byte(conf), 0o600); err != nil {
		return err
	}
	if err := s.stopPart(part); err != nil {
		return fmt.Errorf("restarting %s for the new registry credentials: %w", part, err)
	}
	return s.startPart(ctx, start, Options{})
}

// criAuthPath is where applyMirrors keeps a containerd's CRI auth config: beside its hosts
// directory, outside what WriteHosts replaces.
func criAuthPath(hostsDir string) string { return hostsDir + ".cri-auth.toml" }

// readCRIAuth is the CRI auth config a containerd starts with ("" before any).
func readCRIAuth(hostsDir string) (string, error) {
	b, err := os.ReadFile(criAuthPath(hostsDir))
	if os.IsNotExist(err) {
		return "", nil
	}
	return string(b), err
}

// WriteMirrors configures the loopback containerd from a mirror model; server is the
// upstream it falls back to.
func (s *Site) WriteMirrors(ctx context.Context, m *talosconfig.Mirrors, server string) error {
	return s.applyMirrors(ctx, s.HostsDir, m, server, "containerd", s.startContainerd, CRIAuth)
}
