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
func (s *Site) applyMirrors(ctx context.Context, hostsDir string, m *talosconfig.Mirrors, write func(dir string, m *talosconfig.Mirrors) error,
	part string, start func(context.Context, Options) error, auth func(*talosconfig.Mirrors) string) error {
	if err := os.RemoveAll(hostsDir); err != nil {
		return err
	}
	if err := write(hostsDir, m); err != nil {
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
	write := func(dir string, m *talosconfig.Mirrors) error { return WriteHosts(dir, m, server) }
	return s.applyMirrors(ctx, s.HostsDir, m, write, "containerd", s.startContainerd, CRIAuth)
}

// WriteTalosHosts writes containerd's registry hosts directory laid out as Talos v1.8 and
// later write /etc/cri/conf.d/hosts for containerd 2 (checked against Talos v1.12's
// GenerateHosts): one directory per mirror named like containerd's own hostDirectory
// (host_port_ for host:port), files of mode 0600, each endpoint a [host] entry in order with
// its capabilities, override_path and TLS (a CA file <host:port>-ca.crt in the mirror's
// directory); with skipFallback the last endpoint becomes the root entry (server), so
// containerd never falls back to the upstream registry.
func WriteTalosHosts(dir string, m *talosconfig.Mirrors) error {
	tlsByHost := map[string]talosconfig.Host{}
	for _, h := range m.Hosts {
		tlsByHost[h.Host] = h
	}
	for _, mir := range m.Mirrors {
		name := talosHostDirectory(mir.Key)
		hostDir := filepath.Join(dir, name)
		if err := os.MkdirAll(hostDir, 0o755); err != nil {
			return err
		}
		entry := func(b *strings.Builder, indent string, e talosconfig.Endpoint) error {
			fmt.Fprintf(b, "%scapabilities = [\"pull\", \"resolve\"]\n", indent)
			if mir.OverridePath {
				fmt.Fprintf(b, "%soverride_path = true\n", indent)
			}
			h, ok := tlsByHost[e.Host]
			if !ok {
				return nil
			}
			if h.CA != "" {
				caPath := filepath.Join(hostDir, e.Host+"-ca.crt")
				if err := os.WriteFile(caPath, []byte(h.CA), 0o600); err != nil {
					return err
				}
				fmt.Fprintf(b, "%sca = %q\n", indent, caPath)
			}
			if h.InsecureSkipVerify {
				fmt.Fprintf(b, "%sskip_verify = true\n", indent)
			}
			return nil
		}
		eps := mir.Endpoints
		var b strings.Builder
		if mir.SkipFallback && len(eps) > 0 {
			root := eps[len(eps)-1]
			eps = eps[:len(eps)-1]
			fmt.Fprintf(&b, "server = %q\n", root.URL)
			if err := entry(&b, "", root); err != nil {
				return err
			}
		}
		if len(eps) > 0 {
			b.WriteString("\n[host]\n")
		}
		for _, e := range eps {
			fmt.Fprintf(&b, "  [host.%q]\n", e.URL)
			if err := entry(&b, "    ", e); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(hostDir, "hosts.toml"), []byte(b.String()), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// talosHostDirectory is the directory name of a registry host, as Talos and containerd name
// it: host:port becomes host_port_.
func talosHostDirectory(host string) string {
	if i := strings.LastIndex(host, ":"); i > 0 {
		return host[:i] + "_" + host[i+1:] + "_"
	}
	return host
}
