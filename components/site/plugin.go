package site

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"airgap-site/components/minio"
	"airgap-site/components/talos"
)

// CheckTalosPlugin fails at once, before any Talos resource is declared, when the engine would
// have to download pulumi-talos (it is not in the plugin home nor on $PATH): at the office
// that download retries and fails, at the site there is no internet at all. The message names
// the plugin and how to install it offline. getenv and lookPath are os.Getenv and
// exec.LookPath outside tests.
func CheckTalosPlugin(getenv func(string) string, lookPath func(string) (string, error)) error {
	return checkPlugin(getenv, lookPath, requiredPlugin{
		field: "talos.manage", kind: "talos", version: talos.PluginVersion,
		instead: "set talos.manage: false and apply the talosMirrorPatch output to the nodes yourself (README, Talos)",
	})
}

// CheckMinioPlugin is CheckTalosPlugin for pulumi-minio, which a MinIO tenant's users need
// (objectStore.tenant.adminEndpoint).
func CheckMinioPlugin(getenv func(string) string, lookPath func(string) (string, error)) error {
	return checkPlugin(getenv, lookPath, requiredPlugin{
		field: "objectStore.tenant.adminEndpoint", kind: "minio", version: minio.PluginVersion,
		instead: "remove adminEndpoint and let the operator create the tenant's one consoleAdmin user (README, Security)",
	})
}

// requiredPlugin is a resource plugin the stack's config makes the program need: field asks
// for it, instead is what to do rather than install it.
type requiredPlugin struct {
	field, kind, version, instead string
}

// checkPlugin fails, naming p and how to install it offline, when the engine would have to
// download it.
func checkPlugin(getenv func(string) string, lookPath func(string) (string, error), p requiredPlugin) error {
	dir, home, err := findPlugin(getenv, lookPath, p.kind, p.version)
	if err != nil || dir == "" {
		return err
	}
	return fmt.Errorf("%[4]s: the pulumi-%[5]s plugin v%[1]s is not installed (not in %[2]s nor on $PATH), "+
		"and the engine would try to download it. Install it at the office, where the internet is: "+
		"`PULUMI_HOME=%[3]s pulumi plugin install resource %[5]s v%[1]s` (source scripts/env.sh first, so that "+
		"the kit carries it), or offline from the release archive: `pulumi plugin install resource %[5]s v%[1]s "+
		"--file pulumi-resource-%[5]s-v%[1]s-linux-amd64.tar.gz`. Or %[6]s", p.version, dir, home, p.field, p.kind, p.instead)
}

// findPlugin looks for resource plugin kind at version where the engine finds it without a
// download (the plugin home, fully installed, or $PATH). It returns the directory it expected
// and the plugin home when the plugin is missing, and an empty dir when it is there.
func findPlugin(getenv func(string) string, lookPath func(string) (string, error), kind, version string) (dir, home string, err error) {
	home = getenv("PULUMI_HOME")
	if home == "" {
		userHome, err := os.UserHomeDir()
		if err != nil {
			return "", "", fmt.Errorf("finding the Pulumi plugin home for pulumi-%s: %w", kind, err)
		}
		home = filepath.Join(userHome, ".pulumi")
	}
	binary := "pulumi-resource-" + kind
	dir = filepath.Join(home, "plugins", "resource-"+kind+"-v"+version)
	if fi, err := os.Stat(filepath.Join(dir, binary)); err == nil && fi.Mode().IsRegular() {
		if _, err := os.Stat(dir + ".partial"); os.IsNotExist(err) {
			return "", home, nil
		}
	}
	if _, err := lookPath(binary); err == nil {
		return "", home, nil // an ambient plugin on $PATH, which the engine uses too
	}
	return dir, home, nil
}

// checkTalosPlugin is CheckTalosPlugin in this process's environment.
func checkTalosPlugin() error { return CheckTalosPlugin(os.Getenv, exec.LookPath) }

// checkMinioPlugin is CheckMinioPlugin in this process's environment.
func checkMinioPlugin() error { return CheckMinioPlugin(os.Getenv, exec.LookPath) }
