package registrygc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"airgap-site/sitecontract"
)

const (
	ns   = "registry"
	site = "osaka"
)

func init() {
	pollInterval = 2 * time.Millisecond
	progressEvery = 50 * time.Millisecond
	restoreTimeout = 5 * time.Second
	stopTimeout = 2 * time.Second
}

// selector is the selector labels the program gives a registry component (components/internal/kube.SelectorLabels).
func selector(component string) map[string]string {
	return map[string]string{
		sitecontract.LabelName:      sitecontract.RegistryName,
		sitecontract.LabelInstance:  site,
		sitecontract.LabelComponent: component,
	}
}

// pushDeployment is the push endpoint as components/registry declares it (the fields the Job
// must keep or drop).
func pushDeployment(replicas *int32, annotations map[string]string) *appsv1.Deployment {
	tplLabels := selector(sitecontract.RegistryPushName)
	tplLabels[sitecontract.LabelPartOf] = sitecontract.PartOf
	tplLabels[sitecontract.LabelManagedBy] = sitecontract.ManagedBy
	f, yes, uid := false, true, int64(65534)
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/debug/health"}}, PeriodSeconds: 10}
	fromSecret := func(env, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: env, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "registry-push-credentials"}, Key: key}}}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: sitecontract.RegistryPushName, Namespace: ns, Labels: tplLabels, Annotations: annotations},
		Spec: appsv1.DeploymentSpec{
			Replicas: replicas,
			Selector: &metav1.LabelSelector{MatchLabels: selector(sitecontract.RegistryPushName)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: tplLabels, Annotations: map[string]string{"airgap-site/config-digest": "sha256:abc"}},
				Spec: corev1.PodSpec{
					NodeSelector:                 map[string]string{"kubernetes.io/hostname": "node-1"},
					Tolerations:                  []corev1.Toleration{{Key: "airgap-site/registry", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
					AutomountServiceAccountToken: &f,
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid,
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name:            sitecontract.RegistryName,
						Image:           "docker.io/library/registry@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
						ImagePullPolicy: corev1.PullIfNotPresent,
						Args:            []string{"serve", "/etc/distribution/config.yml"},
						Ports:           []corev1.ContainerPort{{Name: "registry", ContainerPort: 5000}, {Name: "debug", ContainerPort: 5001}},
						Env: []corev1.EnvVar{
							fromSecret("REGISTRY_STORAGE_S3_ACCESSKEY", "s3-access-key"),
							fromSecret("REGISTRY_STORAGE_S3_SECRETKEY", "s3-secret-key"),
							fromSecret("REGISTRY_HTTP_SECRET", "http-secret"),
							{Name: "OTEL_TRACES_EXPORTER", Value: "none"},
						},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "config", MountPath: "/etc/distribution", ReadOnly: true},
							{Name: "tmp", MountPath: "/tmp"},
							{Name: "tls", MountPath: "/etc/distribution/tls", ReadOnly: true},
						},
						ReadinessProbe: probe,
						LivenessProbe:  probe,
						Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}},
						Resources:      corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: &f, ReadOnlyRootFilesystem: &yes, RunAsNonRoot: &yes,
							Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "registry-push-config-0123456789"}}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "registry-tls"}}},
					},
				},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// The Job is the push endpoint's live pod template run once: same image, environment (the S3
// identity), volumes and security context; garbage-collect's arguments; nothing of a server;
// labels no registry Service, PodDisruptionBudget or the push Deployment selects.
func TestJobFromTemplate(t *testing.T) {
	d := pushDeployment(ptr[int32](1), nil)
	job, err := jobFor(d, ns, 90*time.Second+300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	want := d.Spec.Template.Spec
	got := job.Spec.Template.Spec
	if len(got.Containers) != 1 {
		t.Fatalf("job has %d containers, want 1", len(got.Containers))
	}
	gc, server := got.Containers[0], want.Containers[0]
	if a := []string{"garbage-collect", "--delete-untagged", "/etc/distribution/config.yml"}; !reflect.DeepEqual(gc.Args, a) {
		t.Errorf("args = %q, want %q", gc.Args, a)
	}
	if gc.Ports != nil || gc.ReadinessProbe != nil || gc.LivenessProbe != nil || gc.StartupProbe != nil || gc.Lifecycle != nil {
		t.Errorf("the GC container keeps a server's ports, probes or preStop: %+v", gc)
	}
	for name, pair := range map[string][2]any{
		"image":                        {gc.Image, server.Image},
		"env":                          {gc.Env, server.Env},
		"volumeMounts":                 {gc.VolumeMounts, server.VolumeMounts},
		"container securityContext":    {gc.SecurityContext, server.SecurityContext},
		"resources":                    {gc.Resources, server.Resources},
		"volumes":                      {got.Volumes, want.Volumes},
		"pod securityContext":          {got.SecurityContext, want.SecurityContext},
		"automountServiceAccountToken": {got.AutomountServiceAccountToken, want.AutomountServiceAccountToken},
		"nodeSelector":                 {got.NodeSelector, want.NodeSelector},
		"tolerations":                  {got.Tolerations, want.Tolerations},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s differs from the push template: %+v, want %+v", name, pair[0], pair[1])
		}
	}
	if got.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %q, want Never", got.RestartPolicy)
	}
	if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 {
		t.Errorf("backoffLimit = %v, want 0", job.Spec.BackoffLimit)
	}
	if job.Spec.ActiveDeadlineSeconds == nil || *job.Spec.ActiveDeadlineSeconds != 91 {
		t.Errorf("activeDeadlineSeconds = %v, want 91 (the time left, rounded up)", job.Spec.ActiveDeadlineSeconds)
	}
	if job.Name != JobName || job.Namespace != ns {
		t.Errorf("job is %s/%s, want %s/%s", job.Namespace, job.Name, ns, JobName)
	}
	podLabels := labels.Set(job.Spec.Template.Labels)
	wantLabels := labels.Set{sitecontract.LabelName: sitecontract.RegistryName, sitecontract.LabelComponent: Component, sitecontract.LabelInstance: site}
	if !reflect.DeepEqual(podLabels, wantLabels) {
		t.Errorf("pod labels = %v, want %v", podLabels, wantLabels)
	}
	for what, sel := range map[string]map[string]string{
		"the push Deployment and Service":              d.Spec.Selector.MatchLabels,
		"the pull Service and the PodDisruptionBudget": selector(sitecontract.RegistryComponent),
	} {
		if labels.SelectorFromSet(sel).Matches(podLabels) {
			t.Errorf("the GC pod's labels %v match the selector of %s %v", podLabels, what, sel)
		}
	}
	// ... but the one of both endpoints' pods, which the MinIO tenant's NetworkPolicy admits to
	// S3 (components/registry.PodSelector), matches.
	if both := (labels.Set{sitecontract.LabelName: sitecontract.RegistryName, sitecontract.LabelInstance: site}); !labels.SelectorFromSet(both).Matches(podLabels) {
		t.Errorf("the GC pod's labels %v do not match the registry pods' selector %v: a tenant's S3 would refuse it", podLabels, both)
	}
	// The template itself is left as it was (a deep copy is changed).
	if d.Spec.Template.Spec.Containers[0].Args[0] != "serve" || d.Spec.Template.Spec.Containers[0].Ports == nil {
		t.Error("jobFor changed the Deployment's template")
	}
	if _, err := jobFor(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "registry-push"}}, ns, time.Minute); err == nil || !strings.Contains(err.Error(), `no container "registry"`) {
		t.Errorf("a template without the registry container: err = %v", err)
	}
}

// site is a fake cluster with the controllers Collect relies on, driven by a goroutine: the
// Deployment's pods follow its replicas (and its status their readiness), the Job gets a pod
// that ends as outcome says, and the pods of a deleted Job are deleted (the garbage
// collector).
type fakeSite struct {
	t       *testing.T
	cs      *fake.Clientset
	outcome string // "complete", "failed" or "hang"
	log     string // what the GC pod logged
	logErr  error  // reading its log fails with it

	mu sync.Mutex
	// annotationAtScaleDown is the annotation the Deployment carried when the patch scaling it
	// to 0 arrived ("" if none); scaledDown tells it arrived.
	annotationAtScaleDown string
	scaledDown            bool
	created               *batchv1.Job
	deletedJob            bool
	// pushNeverReady: the push pods never become ready (a broken image, S3 down).
	pushNeverReady bool
}

var (
	deployments = appsv1.SchemeGroupVersion.WithResource("deployments")
	pods        = corev1.SchemeGroupVersion.WithResource("pods")
	jobs        = batchv1.SchemeGroupVersion.WithResource("jobs")
)

func newFakeSite(t *testing.T, outcome string, objects ...runtime.Object) *fakeSite {
	s := &fakeSite{t: t, cs: fake.NewClientset(objects...), outcome: outcome}
	s.cs.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		var p struct {
			Spec struct {
				Replicas *int32 `json:"replicas"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(a.(k8stesting.PatchAction).GetPatch(), &p); err != nil {
			t.Errorf("patch of the deployment: %v", err)
		}
		if p.Spec.Replicas != nil && *p.Spec.Replicas == 0 {
			obj, err := s.cs.Tracker().Get(deployments, ns, sitecontract.RegistryPushName)
			if err != nil {
				t.Errorf("deployment: %v", err)
				return false, nil, nil
			}
			s.mu.Lock()
			s.scaledDown = true
			s.annotationAtScaleDown = obj.(*appsv1.Deployment).Annotations[AnnotationRestoreReplicas]
			s.mu.Unlock()
		}
		return false, nil, nil
	})
	s.cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s.mu.Lock()
		s.created = a.(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
		s.mu.Unlock()
		return false, nil, nil
	})
	s.cs.PrependReactor("delete", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if p := a.(k8stesting.DeleteAction).GetDeleteOptions().PropagationPolicy; p == nil || *p != metav1.DeletePropagationBackground {
			t.Errorf("job deleted with propagation %v, want Background", p)
		}
		s.mu.Lock()
		s.deletedJob = true
		s.mu.Unlock()
		return false, nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			s.step(ctx)
			time.Sleep(time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// step is one pass of the controllers.
func (s *fakeSite) step(ctx context.Context) {
	core, apps, batch := s.cs.CoreV1(), s.cs.AppsV1(), s.cs.BatchV1()
	d, err := apps.Deployments(ns).Get(ctx, sitecontract.RegistryPushName, metav1.GetOptions{})
	if err != nil {
		return
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String()
	list, err := core.Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return
	}
	have := int32(len(list.Items))
	for i := have; i < want; i++ {
		core.Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "registry-push-" + string(rune('a'+i)), Labels: d.Spec.Selector.MatchLabels},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		}, metav1.CreateOptions{})
	}
	for i := have - 1; i >= want; i-- {
		core.Pods(ns).Delete(ctx, list.Items[i].Name, metav1.DeleteOptions{})
	}
	s.mu.Lock()
	if s.pushNeverReady {
		want = 0
	}
	s.mu.Unlock()
	if d.Status.ReadyReplicas != want {
		apps.Deployments(ns).Patch(ctx, d.Name, types.MergePatchType,
			[]byte(`{"status":{"readyReplicas":`+itoa(want)+`}}`), metav1.PatchOptions{})
	}

	gcPods, err := core.Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: gcSelector()})
	if err != nil {
		return
	}
	job, err := batch.Jobs(ns).Get(ctx, JobName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		for _, p := range gcPods.Items {
			core.Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{})
		}
		return
	}
	if err != nil || len(job.Status.Conditions) > 0 {
		return
	}
	if len(gcPods.Items) == 0 {
		core.Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: JobName + "-x7k2p", Labels: job.Spec.Template.Labels},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		}, metav1.CreateOptions{})
		return
	}
	var phase corev1.PodPhase
	var cond batchv1.JobCondition
	switch s.outcome {
	case "complete":
		phase, cond = corev1.PodSucceeded, batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}
	case "failed":
		phase, cond = corev1.PodFailed, batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue,
			Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}
	default:
		return
	}
	p := gcPods.Items[0]
	p.Status.Phase = phase
	core.Pods(ns).UpdateStatus(ctx, &p, metav1.UpdateOptions{})
	job.Status.Conditions = []batchv1.JobCondition{cond}
	batch.Jobs(ns).UpdateStatus(ctx, job, metav1.UpdateOptions{})
}

func replicasString(r *int32) string {
	if r == nil {
		return "nil"
	}
	return itoa(*r)
}

func itoa(i int32) string { b, _ := json.Marshal(i); return string(b) }

// collect runs Collect against the fake site, its GC pod's log being s.log.
func (s *fakeSite) collect(ctx context.Context, o Options) (Result, error, []string) {
	var mu sync.Mutex
	var lines []string
	o.Namespace = ns
	o.Progress = func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }
	c := newCollection(s.cs, o)
	c.podLogs = func(_ context.Context, pod string, tail int64) (io.ReadCloser, error) {
		if pod != JobName+"-x7k2p" {
			s.t.Errorf("log of pod %q read, want the GC pod's", pod)
		}
		if s.logErr != nil {
			return nil, s.logErr
		}
		return io.NopCloser(strings.NewReader(s.log)), nil
	}
	res, err := c.run(ctx)
	mu.Lock()
	defer mu.Unlock()
	return res, err, lines
}

// checkRestored: the push Deployment has replicas again, ready, and no annotation; the Job is
// gone.
func (s *fakeSite) checkRestored(want int32) {
	s.t.Helper()
	d, err := s.cs.Tracker().Get(deployments, ns, sitecontract.RegistryPushName)
	if err != nil {
		s.t.Fatal(err)
	}
	dep := d.(*appsv1.Deployment)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != want {
		s.t.Errorf("push replicas after the collection = %s, want %d", replicasString(dep.Spec.Replicas), want)
	}
	if dep.Status.ReadyReplicas != want {
		s.t.Errorf("Collect returned with %d ready push replicas, want %d", dep.Status.ReadyReplicas, want)
	}
	if v, ok := dep.Annotations[AnnotationRestoreReplicas]; ok {
		s.t.Errorf("annotation %s=%q left on the push Deployment", AnnotationRestoreReplicas, v)
	}
	if _, err := s.cs.Tracker().Get(jobs, ns, JobName); !apierrors.IsNotFound(err) {
		s.t.Errorf("job %s left after the collection (err %v)", JobName, err)
	}
}

// garbage-collect's output as v3.1 prints it (registry/storage/garbagecollect.go): marking
// lines, the summary, then what it deletes; logrus lines of the registry on the same stream.
const gcLog = `time="2026-12-02T11:40:01.123Z" level=info msg="redis not configured" go.version=go1.24.4 instance.id=4f6c
docker.io/factory/app
docker.io/factory/app: marking manifest sha256:9f3c1e0d2b7a4c5e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6 
docker.io/factory/app: marking blob sha256:1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809
docker.io/factory/app: marking blob sha256:2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a
manifest eligible for deletion: {docker.io/factory/app sha256:0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e [1]}

3 blobs marked, 2 blobs and 1 manifests eligible for deletion
blob eligible for deletion: sha256:0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e
time="2026-12-02T11:40:01.456Z" level=info msg="Deleting blob: /docker/registry/v2/blobs/sha256/0d/0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e" go.version=go1.24.4 instance.id=4f6c
blob eligible for deletion: sha256:3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b
docker.io/factory/app: layer link eligible for deletion: sha256:3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b
`

// A collection: the annotation is on the Deployment before it is scaled to 0, the Job is the
// template's, the summary is parsed, the Job deleted and the push endpoint restored.
func TestCollect(t *testing.T) {
	pushPod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "registry-push-a", Namespace: ns, Labels: selector(sitecontract.RegistryPushName)},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	s := newFakeSite(t, "complete", pushDeployment(nil, nil), pushPod)
	s.log = gcLog
	res, err, lines := s.collect(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsMarked != 3 || res.BlobsDeleted != 2 || res.ManifestsDeleted != 1 || res.Resumed {
		t.Errorf("result = %+v, want 3 marked, 2 blobs and 1 manifest deleted, not resumed", res)
	}
	if res.Duration <= 0 {
		t.Errorf("duration = %v", res.Duration)
	}
	s.mu.Lock()
	if !s.scaledDown || s.annotationAtScaleDown != "1" {
		t.Errorf("at the scale to 0 the Deployment carried %s=%q (scaled down: %v), want \"1\" (nil replicas mean 1)",
			AnnotationRestoreReplicas, s.annotationAtScaleDown, s.scaledDown)
	}
	if s.created == nil {
		t.Fatal("no job was created")
	}
	if got := s.created.Spec.Template.Spec.Containers[0].Args; got[0] != "garbage-collect" {
		t.Errorf("created job runs %q", got)
	}
	if !s.deletedJob {
		t.Error("the job was not deleted")
	}
	s.mu.Unlock()
	// The Job was created only once the push pods were gone: its creation comes after the
	// last push pod's delete.
	lastPushDelete, jobCreate := -1, -1
	for i, a := range s.cs.Actions() {
		switch {
		case a.Matches("delete", "pods") && strings.HasPrefix(a.(k8stesting.DeleteAction).GetName(), "registry-push-") && jobCreate < 0:
			lastPushDelete = i
		case a.Matches("create", "jobs"):
			jobCreate = i
		}
	}
	if lastPushDelete < 0 || jobCreate < lastPushDelete {
		t.Errorf("job created at action %d, the push pod deleted at %d", jobCreate, lastPushDelete)
	}
	s.checkRestored(1)
	joined := strings.Join(lines, "\n")
	for _, want := range []string{"scaling registry/registry-push to 0", "no write can be in flight", "2 blobs and 1 manifests deleted", "restoring registry/registry-push to 1", "is back"} {
		if !strings.Contains(joined, want) {
			t.Errorf("progress lacks %q:\n%s", want, joined)
		}
	}
}

// A failed garbage-collect: the error says so with the end of its log, and the push endpoint
// is back.
func TestCollectRestoresOnJobFailure(t *testing.T) {
	s := newFakeSite(t, "failed", pushDeployment(ptr[int32](1), nil))
	s.log = "docker.io/factory/app\nfailed to garbage collect: failed to mark: s3aws: AccessDenied: Access Denied\n"
	res, err, _ := s.collect(context.Background(), Options{})
	if err == nil {
		t.Fatal("a failed job was a success")
	}
	for _, want := range []string{"garbage-collect in job registry/registry-gc failed", "BackoffLimitExceeded", "AccessDenied: Access Denied"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if res.BlobsMarked != -1 || res.BlobsDeleted != -1 || res.ManifestsDeleted != -1 {
		t.Errorf("result of a failure = %+v, want -1 counts", res)
	}
	s.checkRestored(1)
}

// A collection that does not finish in time, and one cancelled: the error says which, and the
// push endpoint is restored anyway (on a context of its own).
func TestCollectRestoresOnTimeoutAndCancel(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		s := newFakeSite(t, "hang", pushDeployment(ptr[int32](1), nil))
		_, err, _ := s.collect(context.Background(), Options{Timeout: 300 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "the collection's timeout of 300ms passed") || !strings.Contains(err.Error(), "did not finish") {
			t.Fatalf("err = %v, want the timeout named", err)
		}
		s.checkRestored(1)
	})
	t.Run("cancel", func(t *testing.T) {
		s := newFakeSite(t, "hang", pushDeployment(ptr[int32](1), nil))
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for { // cancel once the GC pod runs
				if l, _ := s.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: gcSelector()}); l != nil && len(l.Items) > 0 {
					cancel()
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		_, err, _ := s.collect(ctx, Options{})
		if err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Fatalf("err = %v, want the cancel", err)
		}
		s.checkRestored(1)
	})
}

// A collection that succeeded is a success even when its log cannot be read: the counts are
// unknown (-1).
func TestCollectWithAnUnreadableLog(t *testing.T) {
	s := newFakeSite(t, "complete", pushDeployment(ptr[int32](1), nil))
	s.logErr = errors.New("the node's kubelet does not answer")
	res, err, lines := s.collect(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsMarked != -1 || res.BlobsDeleted != -1 || res.ManifestsDeleted != -1 {
		t.Errorf("result = %+v, want -1 counts", res)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "kubelet does not answer") {
		t.Errorf("progress does not say why the counts are unknown:\n%s", strings.Join(lines, "\n"))
	}
	s.checkRestored(1)
	if _, err := Collect(context.Background(), s.cs, Options{}); err == nil || !strings.Contains(err.Error(), "no namespace") {
		t.Errorf("Collect without a namespace: err = %v", err)
	}
}

// A push endpoint that does not come back is reported: pushes fail until it does.
func TestCollectReportsAPushEndpointNotReady(t *testing.T) {
	defer func(d time.Duration) { restoreTimeout = d }(restoreTimeout)
	restoreTimeout = 300 * time.Millisecond
	s := newFakeSite(t, "complete", pushDeployment(ptr[int32](1), nil))
	s.mu.Lock()
	s.pushNeverReady = true
	s.mu.Unlock()
	s.log = gcLog
	res, err, _ := s.collect(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), "scaled back but not ready") || !strings.Contains(err.Error(), "0 of 1 ready") {
		t.Fatalf("err = %v", err)
	}
	if res.BlobsDeleted != 2 {
		t.Errorf("the collection's result is lost: %+v", res)
	}
}

// A run killed after the scale left the annotation, the Deployment at 0 and its Job: the next
// run deletes that Job, collects, restores the annotated replicas and says it resumed.
func TestCollectResumes(t *testing.T) {
	leftover := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: JobName, Namespace: ns}}
	leftoverPod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: JobName + "-old01", Namespace: ns,
			Labels: map[string]string{sitecontract.LabelName: sitecontract.RegistryName, sitecontract.LabelComponent: Component, sitecontract.LabelInstance: site}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	// The fake controllers complete the leftover Job at once; a real one may still run: either
	// way it is deleted before the new one starts.
	s := newFakeSite(t, "complete",
		pushDeployment(ptr[int32](0), map[string]string{AnnotationRestoreReplicas: "2"}), leftover, leftoverPod)
	s.log = gcLog
	res, err, lines := s.collect(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed {
		t.Error("Resumed = false after an interrupted collection")
	}
	if res.BlobsDeleted != 2 {
		t.Errorf("result = %+v", res)
	}
	deleteAt, createAt := -1, -1
	for i, a := range s.cs.Actions() {
		if a.Matches("delete", "jobs") && deleteAt < 0 {
			deleteAt = i
		}
		if a.Matches("create", "jobs") {
			createAt = i
		}
	}
	if deleteAt < 0 || createAt < deleteAt {
		t.Errorf("leftover job deleted at action %d, the new one created at %d", deleteAt, createAt)
	}
	if _, err := s.cs.Tracker().Get(pods, ns, leftoverPod.Name); !apierrors.IsNotFound(err) {
		t.Errorf("the leftover GC pod is still there (err %v)", err)
	}
	s.checkRestored(2)
	if !strings.Contains(strings.Join(lines, "\n"), "a previous collection was interrupted") {
		t.Errorf("progress does not say the run resumed:\n%s", strings.Join(lines, "\n"))
	}
}

// An annotation that is not a count is refused before anything changes.
func TestCollectRefusesABadAnnotation(t *testing.T) {
	s := newFakeSite(t, "complete", pushDeployment(ptr[int32](1), map[string]string{AnnotationRestoreReplicas: "one"}))
	_, err, _ := s.collect(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), `airgap-site/gc-restore-replicas="one"`) {
		t.Fatalf("err = %v", err)
	}
	for _, a := range s.cs.Actions() {
		if a.Matches("patch", "deployments") && !strings.Contains(string(a.(k8stesting.PatchAction).GetPatch()), `"status"`) {
			t.Errorf("the deployment was patched: %s", a.(k8stesting.PatchAction).GetPatch())
		}
	}
}

// No push Deployment: an error naming it, nothing touched.
func TestCollectWithoutRegistry(t *testing.T) {
	s := newFakeSite(t, "complete")
	_, err, _ := s.collect(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), "reading deployment registry/registry-push") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseSummary(t *testing.T) {
	for _, tc := range []struct {
		name, log string
		want      summary
		found     bool
	}{
		{"a collection", gcLog, summary{3, 2, 1}, true},
		// Nothing to collect: the summary of an empty sweep.
		{"nothing", "docker.io/factory/app\ndocker.io/factory/app: marking manifest sha256:9f3c \n\n12 blobs marked, 0 blobs and 0 manifests eligible for deletion\n", summary{12, 0, 0}, true},
		{"crlf", "\r\n7 blobs marked, 1 blobs and 0 manifests eligible for deletion\r\n", summary{7, 1, 0}, true},
		// distribution v2's line (no manifests) is not v3's.
		{"v2 format", "\n4 blobs marked, 5 blobs eligible for deletion\n", summary{}, false},
		{"failed before the sweep", "failed to garbage collect: failed to mark: s3aws: AccessDenied\n", summary{}, false},
		{"empty", "", summary{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found, err := parseSummary(strings.NewReader(tc.log))
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.found || got != tc.want {
				t.Errorf("parseSummary = %+v, %v; want %+v, %v", got, found, tc.want, tc.found)
			}
		})
	}
}
