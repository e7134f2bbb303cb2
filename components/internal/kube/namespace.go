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

// PodSecurityRestricted are the Pod Security Admission labels of every namespace the site
// creates: the API server itself refuses a pod that is not hardened (non-root, read-only
// root, no privilege escalation, seccomp), whoever creates it.
var PodSecurityRestricted = map[string]string{
	"pod-security.kubernetes.io/enforce":         "restricted",
	"pod-security.kubernetes.io/enforce-version": "latest",
	"pod-security.kubernetes.io/warn":            "restricted",
	"pod-security.kubernetes.io/audit":           "restricted",
}

// NewNamespace declares a labelled namespace as a child of parent, enforcing the restricted
// Pod Security Standard.
func NewNamespace(ctx *pulumi.Context, name, namespace string, labels pulumi.StringMap, parent pulumi.Resource) (*Namespace, error) {
	nsLabels := pulumi.StringMap{}
	for k, v := range labels {
		nsLabels[k] = v
	}
	for k, v := range PodSecurityRestricted {
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
