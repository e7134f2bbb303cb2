package kube

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Namespace is a namespace a component owns, with what its objects need to live in it.
type Namespace struct {
	*corev1.Namespace
	labels pulumi.StringMap
	// Opts place an object under the component and after the namespace.
	Opts []pulumi.ResourceOption
}

// PodSecurity is how a namespace applies the restricted Pod Security Standard.
type PodSecurity int

const (
	// EnforceRestricted: the API server itself refuses a pod that is not hardened (non-root,
	// no privilege escalation, no capabilities, seccomp), whoever creates it.
	EnforceRestricted PodSecurity = iota
	// WarnRestricted only warns and audits: for pods an operator builds, whose containers
	// this project does not fully control.
	WarnRestricted
)

func (p PodSecurity) labels() map[string]string {
	l := map[string]string{
		"pod-security.kubernetes.io/warn":          "restricted",
		"pod-security.kubernetes.io/warn-version":  "latest",
		"pod-security.kubernetes.io/audit":         "restricted",
		"pod-security.kubernetes.io/audit-version": "latest",
	}
	if p == EnforceRestricted {
		l["pod-security.kubernetes.io/enforce"] = "restricted"
		l["pod-security.kubernetes.io/enforce-version"] = "latest"
	}
	return l
}

// NewNamespace declares a labelled namespace as a child of parent, with the Pod Security
// labels of security.
func NewNamespace(ctx *pulumi.Context, name, namespace string, labels pulumi.StringMap, security PodSecurity, parent pulumi.Resource) (*Namespace, error) {
	nsLabels := pulumi.StringMap{}
	for k, v := range labels {
		nsLabels[k] = v
	}
	for k, v := range security.labels() {
		nsLabels[k] = pulumi.String(v)
	}
	ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(namespace), Labels: nsLabels},
	}, pulumi.Parent(parent))
	if err != nil {
		return nil, err
	}
	return &Namespace{
		Namespace: ns,
		labels:    labels,
		Opts:      []pulumi.ResourceOption{pulumi.Parent(parent), pulumi.DependsOn([]pulumi.Resource{ns})},
	}, nil
}

// Name is the namespace's name as an output.
func (n *Namespace) Name() pulumi.StringOutput { return n.Metadata.Name().Elem() }

// Meta is the metadata of an object named name in this namespace, with its labels.
func (n *Namespace) Meta(name string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: n.Name(), Labels: n.labels}
}
