package site

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"airgap-site/components/talos"
)

// talosPlugin is the pulumi-talos provider binary the Talos resources need.
const talosPlugin = "pulumi-resource-talos"

// CheckTalosPlugin fails at once, before any Talos resource is declared, when the engine would
// have to download pulumi-talos (it is not in the plugin home nor on $PATH): at the office
// that download retries and fails, at the site there is no internet at all. The message names
// the plugin and how to install it offline. getenv and lookPath are os.Getenv and
// exec.LookPath outside tests.
func CheckTalosPlugin(getenv func(string) string, lookPath func(string) (string, error)) error {
	home := getenv("PULUMI_HOME")
	if home == "" {
		userHome, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("talos.manage: finding the Pulumi plugin home: %w", err)
		}
		home = filepath.Join(userHome, ".pulumi")
	}
	dir := filepath.Join(home, "plugins", "resource-talos-v"+talos.PluginVersion)
	if fi, err := os.Stat(filepath.Join(dir, talosPlugin)); err == nil && fi.Mode().IsRegular() {
		if _, err := os.Stat(dir + ".partial"); os.IsNotExist(err) {
			return nil
		}
	}
	if _, err := lookPath(talosPlugin); err == nil {
		return nil // an ambient plugin on $PATH, which the engine uses too
	}
	return fmt.Errorf("talos.manage: the pulumi-talos plugin v%[1]s is not installed (not in %[2]s nor on $PATH), "+
		"and the engine would try to download it. Install it at the office, where the internet is: "+
		"`PULUMI_HOME=%[3]s pulumi plugin install resource talos v%[1]s` (source scripts/env.sh first, so that "+
		"the kit carries it), or offline from the release archive: `pulumi plugin install resource talos v%[1]s "+
		"--file pulumi-resource-talos-v%[1]s-linux-amd64.tar.gz`. Or set talos.manage: false and apply "+
		"the talosMirrorPatch output to the nodes yourself (README, Talos)", talos.PluginVersion, dir, home)
}

// checkTalosPlugin is CheckTalosPlugin in this process's environment.
func checkTalosPlugin() error { return CheckTalosPlugin(os.Getenv, exec.LookPath) }
