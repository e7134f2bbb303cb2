package checks

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"airgap-site/siteconfig"
	"airgap-site/talosconfig"
)

// RegistryConfig checks a distribution config.yml: on S3 storage, redirect.disable must be
// true (presigned object-store URLs are unreachable from the nodes), and forcepathstyle true
// whenever regionendpoint is set (on-prem S3 servers do not serve virtual-host buckets).
// Documents that are not a registry config on S3 pass.
func RegistryConfig(configYAML string) []string {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(configYAML), &doc); err != nil {
		return nil
	}
	s3, ok := Lookup(doc, "storage", "s3").(map[string]any)
	if !ok {
		return nil
	}
	var out []string
	if Lookup(doc, "storage", "redirect", "disable") != true {
		out = append(out, "registry on S3 storage without storage.redirect.disable: true: blob pulls are redirected to presigned S3 URLs the nodes cannot reach; set storage.redirect.disable: true")
	}
	if ep, _ := s3["regionendpoint"].(string); ep != "" && s3["forcepathstyle"] != true {
		out = append(out, fmt.Sprintf("registry S3 storage has regionendpoint %s without forcepathstyle: true; distribution v3 then addresses virtual-host buckets the S3 server does not serve; set storage.s3.forcepathstyle: true", ep))
	}
	return out
}

// RegistryAccess checks that a distribution config.yml serves TLS and requires
// authentication: every node pulls through the site registry with no fallback, so an open
// one lets anyone on the network replace what the nodes run. Documents that are not a
// registry config pass.
func RegistryAccess(configYAML string) []string {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(configYAML), &doc); err != nil {
		return nil
	}
	if _, ok := doc["storage"].(map[string]any); !ok || doc["http"] == nil {
		return nil
	}
	var out []string
	cert, _ := Lookup(doc, "http", "tls", "certificate").(string)
	key, _ := Lookup(doc, "http", "tls", "key").(string)
	if cert == "" || key == "" {
		out = append(out, "registry serves plain http: set http.tls.certificate and http.tls.key (the stack does unless registry.plainHTTP opts out)")
	}
	auth, _ := doc["auth"].(map[string]any)
	if _, ok := auth["htpasswd"]; !ok {
		if _, ok := auth["token"]; !ok {
			out = append(out, "registry requires no authentication: set auth.htpasswd or auth.token (the stack does unless registry.plainHTTP opts out)")
		}
	}
	return out
}

// secretKeyName matches ConfigMap keys that name a credential.
var secretKeyName = regexp.MustCompile(`(?i)(secret|password|passwd|token|access[-_.]?key|private[-_.]?key|credential)`)

// secretLine matches a credential-looking assignment inside a file-like value.
// The value must be on the same line: a YAML section named like a credential (the registry's
// auth.htpasswd, which holds only a file path) is not one.
var secretLine = regexp.MustCompile(`(?im)^[ \t]*(export[ \t]+)?[a-z0-9_.-]*(secret|password|passwd|token|accesskey|access_key|secretkey|secret_key)[a-z0-9_.-]*[ \t]*[:=][ \t]*\S+`)

// ConfigMapSecrets reports credentials in a ConfigMap: values Pulumi knows are secret, keys
// that name a credential, and credential assignments inside embedded files. ConfigMaps are
// readable by anyone with namespace read access and are never encrypted; use a Secret.
func ConfigMapSecrets(data map[string]any, secretKeys []string) []string {
	var out []string
	for _, k := range secretKeys {
		out = append(out, fmt.Sprintf("ConfigMap key %q holds a Pulumi secret; move it to a Secret and reference it (env valueFrom.secretKeyRef or a secret volume)", k))
	}
	for _, k := range slices.Sorted(maps.Keys(data)) {
		v, _ := data[k].(string)
		if secretKeyName.MatchString(k) && strings.TrimSpace(v) != "" {
			out = append(out, fmt.Sprintf("ConfigMap key %q looks like a credential; move it to a Secret", k))
			continue
		}
		if m := secretLine.FindString(v); m != "" {
			field, _, _ := strings.Cut(strings.TrimSpace(m), ":")
			field, _, _ = strings.Cut(field, "=")
			out = append(out, fmt.Sprintf("ConfigMap key %q sets %s; credentials belong in a Secret (the registry reads REGISTRY_STORAGE_S3_* from the environment)", k, strings.TrimSpace(field)))
		}
	}
	return out
}

// MirrorPorts are the ports of the node registry endpoints in a mirror patch: the endpoints of
// the mirrors keyed by a node's own host:port.
func MirrorPorts(m *talosconfig.Mirrors) map[string]int {
	keys := map[string]bool{}
	for _, mir := range m.Mirrors {
		keys[mir.Key] = true
	}
	out := map[string]int{}
	for _, mir := range m.Mirrors {
		for _, e := range mir.Endpoints {
			if !keys[e.Host] {
				continue // an upstream's path-mirror endpoint whose host is not a node key (e.g. bootstrap)
			}
			if _, port, err := net.SplitHostPort(e.Host); err == nil {
				p, _ := strconv.Atoi(port)
				out[e.URL] = p
			}
		}
	}
	return out
}

// NodePortMatchesMirrors reports mirror endpoints whose port is not the registry Service's
// NodePort: containerd would knock on a port nothing listens on.
func NodePortMatchesMirrors(nodePort int, m *talosconfig.Mirrors) []string {
	var out []string
	eps := MirrorPorts(m)
	for _, u := range slices.Sorted(maps.Keys(eps)) {
		if eps[u] != nodePort {
			out = append(out, fmt.Sprintf("mirror endpoint %s uses port %d but the registry Service's nodePort is %d; set registry.nodePort and the mirrors from the same config (they are, unless the patch was edited by hand)", u, eps[u], nodePort))
		}
	}
	if len(eps) == 0 {
		out = append(out, fmt.Sprintf("the Talos mirror patch lists no node endpoint; nodes cannot reach the registry's nodePort %d", nodePort))
	}
	return out
}

// TalosPatch checks a Talos patch (either generation) with talosconfig's patch rules: no
// URL-form mirror or config keys, no endpoint without a scheme, no TLS block for a host
// served over plain http.
func TalosPatch(patch string) []string {
	var out []string
	for _, p := range talosconfig.CheckPatch([]byte(patch), talosconfig.Rules{}) {
		out = append(out, p.String())
	}
	return out
}

// TenantDrives checks a MinIO Tenant spec: every pool needs servers x volumesPerServer >= 4,
// MinIO's smallest erasure set.
func TenantDrives(spec map[string]any) []string {
	pools, _ := spec["pools"].([]any)
	var out []string
	for i, p := range pools {
		pool, _ := p.(map[string]any)
		servers, ok1 := number(pool["servers"])
		volumes, ok2 := number(pool["volumesPerServer"])
		if !ok1 || !ok2 {
			continue // unknown during preview
		}
		if servers*volumes < siteconfig.MinTenantDrives {
			out = append(out, fmt.Sprintf("pool %d has servers x volumesPerServer = %d x %d = %d drives; MinIO needs at least %d (3 servers need volumesPerServer: 2)",
				i, servers, volumes, servers*volumes, siteconfig.MinTenantDrives))
		}
	}
	return out
}

// IsRegistryConfig tells whether a file is a distribution config.yml: a YAML document with a
// storage section and a version.
func IsRegistryConfig(configYAML string) bool {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(configYAML), &doc); err != nil {
		return false
	}
	_, ok := doc["storage"].(map[string]any)
	return ok && doc["version"] != nil
}

// PullEndpointReadOnly checks a workload behind the node-facing NodePort (the port of every
// node's mirrors): nodes carry its credentials, so it must not write. The registry
// config.yml its pods mount (configs: the registry configs among the ConfigMaps of this stack
// that they mount) must have storage.maintenance.readonly.enabled: true, and no container may
// change that from the environment, nor take variables the pack cannot see (envFrom).
func PullEndpointReadOnly(workload string, nodePort int, configs []string, containers []Container) []string {
	var out []string
	if len(configs) == 0 {
		out = append(out, fmt.Sprintf("%s serves the node-facing NodePort %d but mounts no registry config.yml from a ConfigMap of this stack, so nothing shows it is read-only: serve the pull endpoint with the stack's registry config (storage.maintenance.readonly.enabled: true)", workload, nodePort))
	}
	for _, c := range configs {
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(c), &doc); err != nil {
			continue
		}
		if Lookup(doc, "storage", "maintenance", "readonly", "enabled") != true {
			out = append(out, fmt.Sprintf("%s serves the node-facing NodePort %d with a registry config without storage.maintenance.readonly.enabled: true: whoever holds the nodes' pull credentials could push and delete; set it (only the push endpoint, registry.pushNodePort, writes)", workload, nodePort))
		}
	}
	for _, c := range containers {
		out = append(out, RegistryEnvOverrides(c, ReadOnlyKeys)...)
		if c.EnvFrom {
			out = append(out, fmt.Sprintf("%s %q of %s, which serves the node-facing NodePort %d, takes variables from envFrom, which could override storage.maintenance.readonly (REGISTRY_STORAGE_MAINTENANCE_*) unseen: list its variables under env", c.Kind, c.Name, workload, nodePort))
		}
	}
	return out
}
