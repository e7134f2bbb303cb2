package registrygc

import (
	"fmt"
	"math"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"airgap-site/sitecontract"
)

// jobFor is the Job that runs garbage-collect from the push Deployment's live pod template:
// the same image, config mount, S3 identity (environment from its Secret) and hardened
// security context, none of it restated here. Only what makes it a run-once command differs:
// the arguments; no ports, probes or preStop; never restarted; and labels of its own, which no
// Service or PodDisruptionBudget of the registry selects (a GC pod must not be sent pulls, nor
// count as a registry replica).
func jobFor(d *appsv1.Deployment, namespace string, deadline time.Duration) (*batchv1.Job, error) {
	tpl := d.Spec.Template.DeepCopy()
	var gc *corev1.Container
	for i := range tpl.Spec.Containers {
		if tpl.Spec.Containers[i].Name == sitecontract.RegistryName {
			gc = &tpl.Spec.Containers[i]
		}
	}
	if gc == nil {
		return nil, fmt.Errorf("deployment %s/%s has no container %q to run garbage-collect from", namespace, d.Name, sitecontract.RegistryName)
	}
	gc.Args = []string{"garbage-collect", "--delete-untagged", sitecontract.RegistryConfigDir + "/" + sitecontract.RegistryConfigFile}
	gc.Ports = nil
	gc.ReadinessProbe, gc.LivenessProbe, gc.StartupProbe = nil, nil, nil
	gc.Lifecycle = nil
	tpl.Spec.Containers = []corev1.Container{*gc}
	tpl.Spec.RestartPolicy = corev1.RestartPolicyNever

	lbls := map[string]string{
		sitecontract.LabelName:      sitecontract.RegistryName,
		sitecontract.LabelComponent: Component,
	}
	// Name and site are what the MinIO tenant's NetworkPolicy admits to S3
	// (components/registry.PodSelector): without them a tenant's bucket is out of reach.
	if site, ok := tpl.Labels[sitecontract.LabelInstance]; ok {
		lbls[sitecontract.LabelInstance] = site
	}
	tpl.Labels = lbls

	secs := int64(math.Ceil(deadline.Seconds()))
	if secs < 1 {
		secs = 1
	}
	backoff := int32(0) // a failed sweep is run again by the operator, not behind their back
	podLabels := make(map[string]string, len(lbls))
	for k, v := range lbls {
		podLabels[k] = v
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: JobName, Namespace: namespace, Labels: podLabels},
		Spec: batchv1.JobSpec{
			BackoffLimit:          &backoff,
			ActiveDeadlineSeconds: &secs,
			Template:              *tpl,
		},
	}, nil
}
