package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"airgap-site/talosconfig"
)

// The real node runs the containerd line Talos v1.12 and v1.13 ship (2.2, built by `make
// setup` into the tool cache's node-containerd/, with its runc shim; runc is Debian's), and
// is configured the way Talos configures it: config version 3, the CRI plugins
// io.containerd.cri.v1.images and io.containerd.cri.v1.runtime, and a CRI config merged key by
// key from parts in name order, as Talos merges /etc/cri/conf.d/*.part: the node's base
// (00-base.part), the registry part Talos writes (01-registries.part: the hosts directory and
// each host's pull credentials) and, once written, the customization part
// (20-customization.part: the images pinned through kubelet's image GC).
const (
	// NodeContainerdDir is the tool cache's directory of the node's containerd and its shim.
	NodeContainerdDir = "node-containerd"
	// criImages and criRuntime are containerd 2's CRI plugins.
	criImages  = "io.containerd.cri.v1.images"
	criRuntime = "io.containerd.cri.v1.runtime"
)

// nodeContainerd is the directory holding the node's containerd and containerd-shim-runc-v2
// (a site loaded from site.json, as `make demo` drives it, knows its tools by BinDir).
func (s *Site) nodeContainerd() (string, error) {
	bin := s.bin
	if bin == "" {
		bin = s.BinDir
	}
	dir := filepath.Join(bin, NodeContainerdDir)
	for _, b := range []string{"containerd", "containerd-shim-runc-v2"} {
		if !fileExists(filepath.Join(dir, b)) {
			return "", fmt.Errorf("the real node's containerd: %s missing in %s: run `make setup`", b, dir)
		}
	}
	return dir, nil
}

// nodeBasePart is the node's own containerd config: private root, state and sockets, no TCP
// or debug listeners, overlayfs and runc, the CNI bridge, the sandbox (pause) image, and what
// this machine needs (README "What the real node takes").
func nodeBasePart(c containerdConfig, cniDir string) string {
	return fmt.Sprintf(`version = 3
root = %q
state = %q
# Not used here; NRI is off on Talos up to v1.13.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs", "io.containerd.differ.v1.erofs", "io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing", "io.containerd.ttrpc.v1.otelttrpc"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins.%q]
  snapshotter = "overlayfs"
  [plugins.%q.pinned_images]
    sandbox = %q
[plugins.%q]
  # This machine's root lacks CAP_SYS_RESOURCE: runc cannot set a negative oom_score_adj.
  restrict_oom_score_adj = true
  [plugins.%q.containerd]
    default_runtime_name = "runc"
    [plugins.%q.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins.%q.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = %q
`, c.Root, c.State, c.Socket, c.Socket+".ttrpc", criImages, criImages, SandboxImage,
		criRuntime, criRuntime, criRuntime, criRuntime, cniDir)
}

// RegistriesPart is the CRI registry part Talos writes for containerd 2
// (/etc/cri/conf.d/01-registries.part): config_path naming the hosts directory, and the pull
// credentials of every host that has some (registry.configs."<host>".auth), which containerd
// reads at start only.
func RegistriesPart(hostsDir string, m *talosconfig.Mirrors) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[plugins]\n  [plugins.%q]\n    [plugins.%q.registry]\n      config_path = %q\n", criImages, criImages, hostsDir)
	if m == nil {
		return b.String()
	}
	for _, h := range m.Hosts {
		if h.Username == "" {
			continue
		}
		fmt.Fprintf(&b, "\n      [plugins.%q.registry.configs.%q.auth]\n        username = %q\n        password = %q\n",
			criImages, h.Host, h.Username, h.Password)
	}
	return b.String()
}

// mergeTOML merges TOML documents key by key in order, as Talos merges CRI config parts:
// tables are merged recursively, a later value replaces an earlier one.
func mergeTOML(parts ...[]byte) ([]byte, error) {
	merged := map[string]any{}
	for i, p := range parts {
		var m map[string]any
		if _, err := toml.Decode(string(p), &m); err != nil {
			return nil, fmt.Errorf("parsing CRI config part %d: %w", i+1, err)
		}
		mergeMaps(merged, m)
	}
	var out bytes.Buffer
	if err := toml.NewEncoder(&out).Encode(merged); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func mergeMaps(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				mergeMaps(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}

// nodeCustomizationPath is where the node keeps the CRI customization part it was given.
func (s *Site) nodeCustomizationPath() string {
	return s.path("node", "cri-conf.d", filepath.Base(talosconfig.CRICustomizationPath))
}

// writeNodeContainerdConfig merges the node's CRI config parts into path.
func (s *Site) writeNodeContainerdConfig(path string, c containerdConfig, cniDir string) error {
	registries := c.Auth
	if registries == "" {
		registries = RegistriesPart(c.HostsDir, nil)
	}
	parts := [][]byte{[]byte(nodeBasePart(c, cniDir)), []byte(registries)}
	custom, err := os.ReadFile(s.nodeCustomizationPath())
	if err == nil {
		parts = append(parts, custom)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	conf, err := mergeTOML(parts...)
	if err != nil {
		return err
	}
	return os.WriteFile(path, conf, 0o600)
}

// WriteNodeImagePins gives the real node a Talos image pin patch (the stack's
// talosImagePinPatch): its CRI customization part is merged into the node's CRI config and
// containerd restarts, as on a Talos node's next boot. It returns the references pinned.
// At its start containerd labels every image present that the config pins.
func (s *Site) WriteNodeImagePins(ctx context.Context, patch []byte) ([]string, error) {
	part, pinned, err := talosconfig.ParsePinPatch(patch)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(s.nodeCustomizationPath()), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.nodeCustomizationPath(), []byte(part), 0o644); err != nil {
		return nil, err
	}
	if err := s.stopPart("node-containerd"); err != nil {
		return nil, fmt.Errorf("restarting the node's containerd for its CRI customization: %w", err)
	}
	return pinned, s.startPart(ctx, s.startNodeContainerd, Options{})
}

// ClearNodeImagePins removes the CRI customization part WriteNodeImagePins gave the node and
// restarts its containerd without it.
func (s *Site) ClearNodeImagePins(ctx context.Context) error {
	if err := os.Remove(s.nodeCustomizationPath()); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if err := s.stopPart("node-containerd"); err != nil {
		return err
	}
	return s.startPart(ctx, s.startNodeContainerd, Options{})
}
