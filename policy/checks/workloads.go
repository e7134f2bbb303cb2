package checks

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"airgap-site/mirror"
)

// Container is one container of a workload's pod template.
type Container struct {
	Name       string
	Image      string
	PullPolicy string
	// Kind is "container", "initContainer" or "ephemeralContainer".
	Kind string
	// Env is the container's env list; EnvFrom tells whether it also takes whole ConfigMaps
	// or Secrets as variables (envFrom), whose names are not in the resource.
	Env     []EnvVar
	EnvFrom bool
}

// podSpecPaths maps workload kinds to where their pod spec lives.
var podSpecPaths = map[string][]string{
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
	"Pod":         {"spec"},
}

// WorkloadKind returns the workload kind of a pulumi-kubernetes type token such as
// kubernetes:apps/v1:Deployment, or "" for anything else.
func WorkloadKind(token string) string {
	if !strings.HasPrefix(token, "kubernetes:") {
		return ""
	}
	kind := token[strings.LastIndexByte(token, ':')+1:]
	if _, ok := podSpecPaths[kind]; ok {
		return kind
	}
	return ""
}

// Containers lists every container of a workload, init and ephemeral ones included. Values
// that are not known yet (preview) are skipped.
func Containers(kind string, obj map[string]any) []Container {
	spec, ok := Lookup(obj, podSpecPaths[kind]...).(map[string]any)
	if !ok {
		return nil
	}
	var out []Container
	for field, label := range map[string]string{"initContainers": "initContainer", "containers": "container", "ephemeralContainers": "ephemeralContainer"} {
		list, _ := spec[field].([]any)
		for _, c := range list {
			m, _ := c.(map[string]any)
			img, _ := m["image"].(string)
			nm, _ := m["name"].(string)
			pp, _ := m["imagePullPolicy"].(string)
			envFrom, _ := m["envFrom"].([]any)
			out = append(out, Container{Name: nm, Image: img, PullPolicy: pp, Kind: label, Env: envOf(m["env"]), EnvFrom: len(envFrom) > 0})
		}
	}
	return out
}

// envOf reads a container's env list; a variable whose name is not known yet is skipped.
func envOf(v any) []EnvVar {
	list, _ := v.([]any)
	var out []EnvVar
	for _, e := range list {
		m, _ := e.(map[string]any)
		name, ok := m["name"].(string)
		if !ok {
			continue
		}
		value, _ := m["value"].(string)
		_, ref := m["valueFrom"]
		out = append(out, EnvVar{Name: name, Value: value, FromRef: ref})
	}
	return out
}

// PodTemplate is what a workload's pods look like to the policies: their labels (nil when not
// known yet), the ConfigMaps their volumes mount (by name; Unknown when a name is not known
// yet) and their containers.
type PodTemplate struct {
	Labels     map[string]string
	ConfigMaps []string
	Unknown    bool
	Containers []Container
}

// podMetaPaths maps workload kinds to where their pods' metadata lives.
var podMetaPaths = map[string][]string{
	"Deployment":  {"spec", "template", "metadata"},
	"StatefulSet": {"spec", "template", "metadata"},
	"DaemonSet":   {"spec", "template", "metadata"},
	"ReplicaSet":  {"spec", "template", "metadata"},
	"Job":         {"spec", "template", "metadata"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "metadata"},
	"Pod":         {"metadata"},
}

// Pods describes the pods of a workload.
func Pods(kind string, obj map[string]any) PodTemplate {
	p := PodTemplate{Containers: Containers(kind, obj)}
	if labels, ok := Lookup(obj, append(podMetaPaths[kind], "labels")...).(map[string]any); ok {
		p.Labels = map[string]string{}
		for k, v := range labels {
			s, ok := v.(string)
			if !ok {
				p.Labels = nil
				break
			}
			p.Labels[k] = s
		}
	}
	volumes, ok := Lookup(obj, append(podSpecPaths[kind], "volumes")...).([]any)
	if !ok && Lookup(obj, append(podSpecPaths[kind], "volumes")...) != nil {
		p.Unknown = true
	}
	for _, v := range volumes {
		vol, _ := v.(map[string]any)
		cm, ok := vol["configMap"].(map[string]any)
		if !ok {
			if vol["configMap"] != nil {
				p.Unknown = true // not known yet
			}
			continue
		}
		name, ok := cm["name"].(string)
		if !ok {
			p.Unknown = true
			continue
		}
		p.ConfigMaps = append(p.ConfigMaps, name)
	}
	return p
}

// Selects tells whether a Service selector picks pods with these labels.
func Selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ImageMirrored reports a container whose image comes from a registry without a mirror on
// the site: on an air-gapped node that pull can only hang or fail.
func ImageMirrored(c Container, mirrors map[string]bool) []string {
	if c.Image == "" {
		return nil
	}
	reg, err := mirror.Registry(c.Image)
	if err != nil {
		return []string{fmt.Sprintf("%s %q: %v", c.Kind, c.Name, err)}
	}
	if mirrors[reg] {
		return nil
	}
	if msg := mirror.HostPortProblem(reg); msg != "" {
		return []string{fmt.Sprintf("%s %q uses image %q: registry %s", c.Kind, c.Name, c.Image, msg)}
	}
	return []string{fmt.Sprintf("%s %q uses image %q from %s, which has no Talos mirror on this site: add %q to talos.upstreams (and the image to the site's images), or use an image from a mirrored registry (%s)",
		c.Kind, c.Name, c.Image, reg, reg, strings.Join(slices.Sorted(maps.Keys(mirrors)), ", "))}
}

// PullPolicyNotAlways reports imagePullPolicy: Always: every pod start would need the registry
// (and, without a mirror, the internet), so a registry hiccup stops restarts.
func PullPolicyNotAlways(c Container) []string {
	if c.PullPolicy != "Always" {
		return nil
	}
	return []string{fmt.Sprintf("%s %q has imagePullPolicy: Always; use IfNotPresent so pods restart from the node's cache when the registry is unreachable", c.Kind, c.Name)}
}

// DigestPinned advises pinning by digest: a tag can move, a digest cannot.
func DigestPinned(c Container) []string {
	if c.Image == "" || strings.Contains(c.Image, "@sha256:") {
		return nil
	}
	return []string{fmt.Sprintf("%s %q image %q has no digest; pin it (image@sha256:...) so every node runs the same bits", c.Kind, c.Name, c.Image)}
}

// NoLatestTag advises against latest (or no tag, which means latest).
func NoLatestTag(c Container) []string {
	if c.Image == "" {
		return nil
	}
	ref, err := name.ParseReference(c.Image, name.WeakValidation)
	if err != nil {
		return nil
	}
	if tag, ok := ref.(name.Tag); ok && tag.TagStr() == "latest" && !strings.Contains(c.Image, "@") {
		return []string{fmt.Sprintf("%s %q image %q uses the latest tag (explicitly or by omission); name a version", c.Kind, c.Name, c.Image)}
	}
	return nil
}
