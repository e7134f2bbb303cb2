package siteconfig

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

var (
	logLevels    = []string{"error", "warn", "info", "debug"}
	resourceKeys = []string{"cpu", "memory", "ephemeral-storage"}
)

// Registry configures the in-cluster distribution registry.
type Registry struct {
	Namespace string    `json:"namespace"`
	NodePort  int       `json:"nodePort"`
	Replicas  int       `json:"replicas"`
	Image     string    `json:"image"`
	LogLevel  string    `json:"logLevel"`
	Resources Resources `json:"resources"`
	// NodeSelector and Tolerations place the registry pods, e.g. on infrastructure nodes
	// with local disks, or (the local site) on its one real node.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Tolerations  []Toleration      `json:"tolerations,omitempty"`
}

// Toleration is a Kubernetes toleration of the registry pods.
type Toleration struct {
	Key      string `json:"key,omitempty"`
	Operator string `json:"operator,omitempty"`
	Value    string `json:"value,omitempty"`
	Effect   string `json:"effect,omitempty"`
}

var (
	tolerationOperators = []string{"", "Equal", "Exists"}
	taintEffects        = []string{"", "NoSchedule", "PreferNoSchedule", "NoExecute"}
)

// Resources are container requests and limits, as Kubernetes quantities.
type Resources struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

// NodePort range of a default kube-apiserver (--service-node-port-range).
const (
	MinNodePort = 30000
	MaxNodePort = 32767
)

func (v *validator) registry(r *Registry) {
	if !dnsLabel.MatchString(r.Namespace) {
		v.fail("registry.namespace", "%q is not a valid namespace name", r.Namespace)
	}
	if r.NodePort < MinNodePort || r.NodePort > MaxNodePort {
		v.fail("registry.nodePort", "%d is outside the NodePort range %d-%d", r.NodePort, MinNodePort, MaxNodePort)
	}
	if r.Replicas < 1 {
		v.fail("registry.replicas", "%d: at least 1 replica is required", r.Replicas)
	} else if r.Replicas == 1 {
		v.warn("registry.replicas is 1: image pulls fail while the registry pod restarts or its node drains")
	}
	if _, err := name.ParseReference(r.Image, name.StrictValidation); err != nil {
		v.fail("registry.image", "%q is not a full image reference (registry/repository:tag or @digest): %v", r.Image, err)
	}
	if !slices.Contains(logLevels, r.LogLevel) {
		v.fail("registry.logLevel", "%q is not one of %v", r.LogLevel, logLevels)
	}
	v.placement(r)
	v.quantities("registry.resources.requests", r.Resources.Requests)
	v.quantities("registry.resources.limits", r.Resources.Limits)
	for k, limit := range r.Resources.Limits {
		req, ok := r.Resources.Requests[k]
		if !ok {
			continue
		}
		l, errL := resource.ParseQuantity(limit)
		q, errQ := resource.ParseQuantity(req)
		if errL == nil && errQ == nil && q.Cmp(l) > 0 {
			v.fail("registry.resources.requests."+k, "%s is above its limit %s", req, limit)
		}
	}
}

func (v *validator) quantities(field string, m map[string]string) {
	for k, q := range m {
		if !slices.Contains(resourceKeys, k) {
			v.fail(field+"."+k, "unknown resource (expected one of %v)", resourceKeys)
			continue
		}
		if _, err := resource.ParseQuantity(q); err != nil {
			v.fail(field+"."+k, "%q is not a Kubernetes quantity (e.g. 100m, 512Mi)", q)
		}
	}
}

func (v *validator) placement(r *Registry) {
	for _, k := range slices.Sorted(maps.Keys(r.NodeSelector)) {
		f := fmt.Sprintf("registry.nodeSelector[%q]", k)
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			v.fail(f, "%q is not a label key: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(r.NodeSelector[k]); len(errs) > 0 {
			v.fail(f, "%q is not a label value: %s", r.NodeSelector[k], strings.Join(errs, "; "))
		}
	}
	for i, t := range r.Tolerations {
		f := fmt.Sprintf("registry.tolerations[%d]", i)
		if !slices.Contains(tolerationOperators, t.Operator) {
			v.fail(f+".operator", "%q is not Equal or Exists", t.Operator)
		}
		if !slices.Contains(taintEffects, t.Effect) {
			v.fail(f+".effect", "%q is not NoSchedule, PreferNoSchedule or NoExecute", t.Effect)
		}
		if t.Key != "" {
			if errs := validation.IsQualifiedName(t.Key); len(errs) > 0 {
				v.fail(f+".key", "%q is not a taint key: %s", t.Key, strings.Join(errs, "; "))
			}
		} else if t.Operator != "Exists" {
			v.fail(f+".key", "required unless operator is Exists (which then tolerates every taint)")
		}
		if t.Operator == "Exists" && t.Value != "" {
			v.fail(f+".value", "must be empty with operator Exists")
		}
	}
}
