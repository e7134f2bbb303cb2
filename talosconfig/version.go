package talosconfig

import (
	"fmt"
	"regexp"
	"strconv"
)

// The Talos versions this project renders for, and where the config generation changes.
const (
	DefaultVersion = "v1.12.11"
	MinMinor       = 7
	MaxMinor       = 13
	// FirstDocumentsMinor is the first Talos minor that takes RegistryMirrorConfig documents
	// instead of machine.registries.
	FirstDocumentsMinor = 12
)

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(\.\d+)?$`)

// Minor returns the minor version of a Talos version such as v1.12.3.
func Minor(version string) (int, error) {
	m := versionRE.FindStringSubmatch(version)
	if m == nil || m[1] != "1" {
		return 0, fmt.Errorf("%q is not a Talos version like v1.12.3", version)
	}
	return strconv.Atoi(m[2])
}

// NormalizeVersion writes a Talos version with its leading v (1.9.6 -> v1.9.6, 1.9 -> v1.9),
// the form the version table, pulumi-talos and the docs use. Anything else is returned as
// is, for CheckVersion to reject.
func NormalizeVersion(version string) string {
	if versionRE.MatchString(version) && version[0] != 'v' {
		return "v" + version
	}
	return version
}

// CheckVersion returns the minor of a supported Talos version, or an error that says which
// versions are supported.
func CheckVersion(version string) (int, error) {
	minor, err := Minor(version)
	if err != nil {
		return 0, err
	}
	if minor < MinMinor || minor > MaxMinor {
		return 0, fmt.Errorf("%s is not supported: this release renders mirrors for Talos v1.%d to v1.%d", version, MinMinor, MaxMinor)
	}
	return minor, nil
}

// UsesDocuments reports whether a Talos version configures mirrors with RegistryMirrorConfig
// documents rather than machine.registries.
func UsesDocuments(version string) bool {
	minor, err := Minor(version)
	return err == nil && minor >= FirstDocumentsMinor
}
