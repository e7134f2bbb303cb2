package checks

import (
	"fmt"
	"strings"
)

// EnvVar is one environment variable of a container: its literal value, or FromRef when it
// comes from a Secret, a ConfigMap or a field (its value is not in the resource).
type EnvVar struct {
	Name    string
	Value   string
	FromRef bool
}

// RegistryEnvPrefix is distribution's environment prefix: REGISTRY_A_B overrides the config
// key a.b of config.yml, whatever the file says (REGISTRY_AUTH, REGISTRY_HTTP_TLS or
// REGISTRY_STORAGE_MAINTENANCE replace whole sections; an empty value removes one).
const RegistryEnvPrefix = "REGISTRY_"

// Config keys the policies guard, as dotted paths of config.yml.
var (
	// RedirectKeys are what registry-s3-no-redirect checks.
	RedirectKeys = []string{"storage.redirect.disable", "storage.s3.regionendpoint", "storage.s3.forcepathstyle"}
	// AccessKeys are what registry-serves-tls-and-requires-auth checks.
	AccessKeys = []string{"http.tls.certificate", "http.tls.key", "auth"}
	// ReadOnlyKeys are what registry-pull-endpoint-read-only checks.
	ReadOnlyKeys = []string{"storage.maintenance.readonly.enabled"}
)

// EnvConfigPath is the config.yml key an environment variable overrides ("" when it is not a
// REGISTRY_ variable), as distribution maps it: the name after the prefix, split at "_",
// matched without case.
func EnvConfigPath(name string) string {
	rest, ok := strings.CutPrefix(name, RegistryEnvPrefix)
	if !ok || rest == "" {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(rest, "_", "."))
}

// overlaps tells whether one dotted path is the other or contains it: setting either changes
// the other.
func overlaps(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+".") || strings.HasPrefix(b, a+".")
}

// RegistryEnvOverrides reports the container's environment variables that override a guarded
// config key (or a section holding one): the policy checks config.yml, so a setting made in
// the environment would pass unseen. Literal values and values from a Secret alike: the rule
// is that guarded keys live in config.yml only.
func RegistryEnvOverrides(c Container, guarded []string) []string {
	var out []string
	for _, e := range c.Env {
		path := EnvConfigPath(e.Name)
		if path == "" {
			continue
		}
		for _, key := range guarded {
			if overlaps(path, key) {
				from := fmt.Sprintf("to %q", e.Value)
				if e.FromRef {
					from = "from a reference (valueFrom)"
				}
				out = append(out, fmt.Sprintf("%s %q sets %s %s, which overrides %s of the registry's config.yml where the policy pack does not see it: remove the variable and set %s in config.yml",
					c.Kind, c.Name, e.Name, from, key, key))
				break
			}
		}
	}
	return out
}
