package registrygc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"airgap-site/sitecontract"
)

// Names Collect gives and reads.
const (
	// AnnotationRestoreReplicas on the push Deployment holds the replicas it had before a
	// collection scaled it to 0. It is written before the scale and removed with the restore:
	// found by a run, it means the previous one was killed in between.
	AnnotationRestoreReplicas = "airgap-site/gc-restore-replicas"
	// JobName names the Job that runs garbage-collect; Component is its pods' LabelComponent.
	JobName   = "registry-gc"
	Component = "registry-gc"
	// DefaultTimeout bounds a collection when Options.Timeout is 0.
	DefaultTimeout = 10 * time.Minute
)

// Options of a collection.
type Options struct {
	Namespace string            // the registry namespace (siteconfig Registry.Namespace)
	Timeout   time.Duration     // the whole run; 0 = 10 min
	Progress  func(line string) // every state change and every few seconds while waiting; may be nil
}

// Result of a collection.
type Result struct {
	Duration time.Duration
	// Parsed from garbage-collect's summary line; -1 if it was not found. garbage-collect
	// exits non-zero on the first blob or manifest it fails to delete, so after a success
	// every one it counted as eligible is deleted.
	BlobsMarked, BlobsDeleted, ManifestsDeleted int
	// Resumed: a previous collection had been interrupted (the push endpoint found scaled
	// down by it) and this one finished it.
	Resumed bool
}

// Timings, variables so that unit tests run in milliseconds.
var (
	// pollInterval is how often a wait looks at the cluster.
	pollInterval = time.Second
	// progressEvery is how often a wait reports while nothing changes.
	progressEvery = 5 * time.Second
	// restoreTimeout bounds the restore of the push endpoint, on a context of its own: it
	// runs after the collection's timeout or cancel too.
	restoreTimeout = 3 * time.Minute
	// stopTimeout bounds, within the restore, the wait for a GC pod that is still running to
	// stop before a writer is back (a sweep would delete a fresh upload); past it the push
	// endpoint is restored anyway, and that is reported: the line comes first.
	stopTimeout = 60 * time.Second
)

// fieldManager is the manager of what Collect writes into the Deployment (replicas, the
// annotation); after the restore the values are the program's again.
const fieldManager = "airgap-site-gc"

// logTailLines is how much of a failed GC pod's log an error carries.
const logTailLines = 20

// Collect runs distribution's garbage-collect against the site registry's bucket with the
// push endpoint stopped, and restores the push endpoint whatever happens (see the package
// documentation).
func Collect(ctx context.Context, cs kubernetes.Interface, o Options) (Result, error) {
	return newCollection(cs, o).run(ctx)
}

// collection is one run of Collect.
type collection struct {
	cs       kubernetes.Interface
	ns       string
	timeout  time.Duration
	progress func(string)
	// podLogs reads a pod's log (the last tail lines when tail > 0); unit tests replace it,
	// the fake clientset answers every log request with "fake logs".
	podLogs func(ctx context.Context, pod string, tail int64) (io.ReadCloser, error)
}

func newCollection(cs kubernetes.Interface, o Options) *collection {
	c := &collection{cs: cs, ns: o.Namespace, timeout: o.Timeout, progress: o.Progress}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.progress == nil {
		c.progress = func(string) {}
	}
	c.podLogs = func(ctx context.Context, pod string, tail int64) (io.ReadCloser, error) {
		opts := &corev1.PodLogOptions{}
		if tail > 0 {
			opts.TailLines = &tail
		}
		return cs.CoreV1().Pods(c.ns).GetLogs(pod, opts).Stream(ctx)
	}
	return c
}

func (c *collection) say(format string, a ...any) { c.progress(fmt.Sprintf(format, a...)) }

func (c *collection) run(parent context.Context) (res Result, err error) {
	start := time.Now()
	res = Result{BlobsMarked: -1, BlobsDeleted: -1, ManifestsDeleted: -1}
	defer func() { res.Duration = time.Since(start) }()
	if c.ns == "" {
		return res, errors.New("collecting the registry's garbage: no namespace given")
	}
	ctx, cancel := context.WithTimeoutCause(parent, c.timeout, fmt.Errorf("the collection's timeout of %s passed", c.timeout))
	defer cancel()

	deploy, err := c.cs.AppsV1().Deployments(c.ns).Get(ctx, sitecontract.RegistryPushName, metav1.GetOptions{})
	if err != nil {
		return res, fmt.Errorf("reading deployment %s/%s: %w", c.ns, sitecontract.RegistryPushName, c.cause(ctx, err))
	}
	restore, resumed, err := replicasToRestore(deploy)
	if err != nil {
		return res, err
	}
	res.Resumed = resumed
	// From here on the push endpoint is restored, whatever happens.
	defer func() {
		if rerr := c.restore(parent, restore, err != nil); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()

	if resumed {
		c.say("a previous collection was interrupted (%s/%s carries %s=%d): finishing it",
			c.ns, deploy.Name, AnnotationRestoreReplicas, restore)
	} else {
		// Before the scale: a run killed after it leaves the count for the next one.
		if err := c.patchDeployment(ctx, map[string]any{"metadata": map[string]any{"annotations": map[string]any{
			AnnotationRestoreReplicas: strconv.Itoa(int(restore)),
		}}}); err != nil {
			return res, fmt.Errorf("annotating %s/%s with its replicas: %w", c.ns, deploy.Name, err)
		}
	}
	c.say("scaling %s/%s to 0 (it had %d): pushes are refused until the collection ends", c.ns, deploy.Name, restore)
	if err := c.patchDeployment(ctx, map[string]any{"spec": map[string]any{"replicas": 0}}); err != nil {
		return res, fmt.Errorf("scaling %s/%s to 0: %w", c.ns, deploy.Name, err)
	}
	if err := c.waitPushStopped(ctx, deploy); err != nil {
		return res, err
	}
	if err := c.removeLeftoverJob(ctx); err != nil {
		return res, err
	}
	job, err := jobFor(deploy, c.ns, remaining(ctx, c.timeout))
	if err != nil {
		return res, err
	}
	if _, err := c.cs.BatchV1().Jobs(c.ns).Create(ctx, job, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
		return res, fmt.Errorf("creating job %s/%s: %w", c.ns, JobName, c.cause(ctx, err))
	}
	c.say("job %s/%s started: garbage-collect --delete-untagged", c.ns, JobName)
	pod, err := c.waitJob(ctx)
	if err != nil {
		return res, err
	}
	// The collection succeeded: a log that cannot be read only leaves the counts unknown.
	s, ok, err := c.summary(ctx, pod)
	switch {
	case err != nil:
		c.say("garbage-collect succeeded; reading the log of pod %s/%s for its summary: %v", c.ns, pod, c.cause(ctx, err))
	case !ok:
		c.say("garbage-collect succeeded but the log of pod %s/%s has no summary line", c.ns, pod)
	default:
		res.BlobsMarked, res.BlobsDeleted, res.ManifestsDeleted = s.BlobsMarked, s.BlobsEligible, s.ManifestsEligible
		c.say("garbage-collect finished: %d blobs marked, %d blobs and %d manifests deleted", s.BlobsMarked, s.BlobsEligible, s.ManifestsEligible)
	}
	return res, nil
}

// summary reads garbage-collect's summary line from the log of its pod.
func (c *collection) summary(ctx context.Context, pod string) (summary, bool, error) {
	rc, err := c.podLogs(ctx, pod, 0)
	if err != nil {
		return summary{}, false, err
	}
	defer rc.Close()
	return parseSummary(rc)
}

// replicasToRestore is what the push Deployment is scaled back to: the annotation of an
// interrupted collection (resumed), else its replicas (nil means 1).
func replicasToRestore(d *appsv1.Deployment) (n int32, resumed bool, err error) {
	if v, ok := d.Annotations[AnnotationRestoreReplicas]; ok {
		i, err := strconv.ParseInt(v, 10, 32)
		if err != nil || i < 0 {
			return 0, false, fmt.Errorf("reading annotation %s=%q of %s/%s: not a replica count (set it to the replicas the push endpoint should have, or remove it)",
				AnnotationRestoreReplicas, v, d.Namespace, d.Name)
		}
		return int32(i), true, nil
	}
	if d.Spec.Replicas == nil {
		return 1, false, nil
	}
	return *d.Spec.Replicas, false, nil
}

// patchDeployment applies a JSON merge patch to the push Deployment.
func (c *collection) patchDeployment(ctx context.Context, patch map[string]any) error {
	b, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = c.cs.AppsV1().Deployments(c.ns).Patch(ctx, sitecontract.RegistryPushName, types.MergePatchType, b,
		metav1.PatchOptions{FieldManager: fieldManager})
	return c.cause(ctx, err)
}

// waitPushStopped waits until no pod of the push Deployment exists, terminating ones
// included: until then a write may be in flight.
func (c *collection) waitPushStopped(ctx context.Context, d *appsv1.Deployment) error {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return fmt.Errorf("reading the selector of %s/%s: %w", c.ns, d.Name, err)
	}
	what := fmt.Sprintf("the pods of %s/%s to be gone", c.ns, d.Name)
	return c.poll(ctx, what, func(ctx context.Context) (bool, string, error) {
		pods, err := c.cs.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return false, "", fmt.Errorf("listing the pods of %s/%s: %w", c.ns, d.Name, err)
		}
		if len(pods.Items) == 0 {
			c.say("%s/%s has no pod left: no write can be in flight", c.ns, d.Name)
			return true, "", nil
		}
		return false, describePods(pods.Items), nil
	})
}

// gcSelector selects the pods of the GC Job (of this run or a killed one).
func gcSelector() string {
	return labels.SelectorFromSet(labels.Set{sitecontract.LabelName: sitecontract.RegistryName, sitecontract.LabelComponent: Component}).String()
}

// removeLeftoverJob deletes the Job of a killed run and waits until it and its pods are
// gone, so that the pods this run reads are its own.
func (c *collection) removeLeftoverJob(ctx context.Context) error {
	jobs := c.cs.BatchV1().Jobs(c.ns)
	if _, err := jobs.Get(ctx, JobName, metav1.GetOptions{}); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("reading job %s/%s: %w", c.ns, JobName, c.cause(ctx, err))
		}
	} else {
		c.say("deleting job %s/%s, left by an interrupted collection", c.ns, JobName)
		if err := c.deleteJob(ctx); err != nil {
			return err
		}
	}
	what := fmt.Sprintf("job %s/%s and its pods to be gone", c.ns, JobName)
	return c.poll(ctx, what, func(ctx context.Context) (bool, string, error) {
		_, err := jobs.Get(ctx, JobName, metav1.GetOptions{})
		jobGone := apierrors.IsNotFound(err)
		if err != nil && !jobGone {
			return false, "", fmt.Errorf("reading job %s/%s: %w", c.ns, JobName, err)
		}
		pods, err := c.gcPods(ctx)
		if err != nil {
			return false, "", err
		}
		if jobGone && len(pods) == 0 {
			return true, "", nil
		}
		status := "job present"
		if jobGone {
			status = "job deleted"
		}
		if len(pods) > 0 {
			status += ", " + describePods(pods)
		}
		return false, status, nil
	})
}

func (c *collection) deleteJob(ctx context.Context) error {
	bg := metav1.DeletePropagationBackground
	err := c.cs.BatchV1().Jobs(c.ns).Delete(ctx, JobName, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting job %s/%s: %w", c.ns, JobName, c.cause(ctx, err))
	}
	return nil
}

func (c *collection) gcPods(ctx context.Context) ([]corev1.Pod, error) {
	pods, err := c.cs.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{LabelSelector: gcSelector()})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of job %s/%s: %w", c.ns, JobName, err)
	}
	return pods.Items, nil
}

// waitJob waits until the Job succeeds and returns its pod's name; a failed Job, or none
// finished in time, is an error carrying the end of its pod's log.
func (c *collection) waitJob(ctx context.Context) (pod string, err error) {
	what := fmt.Sprintf("job %s/%s to finish", c.ns, JobName)
	var failed string
	err = c.poll(ctx, what, func(ctx context.Context) (bool, string, error) {
		job, err := c.cs.BatchV1().Jobs(c.ns).Get(ctx, JobName, metav1.GetOptions{})
		if err != nil {
			return false, "", fmt.Errorf("reading job %s/%s: %w", c.ns, JobName, err)
		}
		pods, err := c.gcPods(ctx)
		if err != nil {
			return false, "", err
		}
		if len(pods) > 0 {
			pod = newest(pods).Name
		}
		for _, cond := range job.Status.Conditions {
			if cond.Status != corev1.ConditionTrue {
				continue
			}
			switch cond.Type {
			case batchv1.JobComplete:
				return true, "", nil
			case batchv1.JobFailed:
				failed = strings.TrimSpace(cond.Reason + ": " + cond.Message)
				return true, "", nil
			}
		}
		if len(pods) == 0 {
			return false, "no pod yet", nil
		}
		return false, describePods(pods), nil
	})
	switch {
	case err != nil:
		return "", fmt.Errorf("garbage-collect in job %s/%s did not finish: %w%s", c.ns, JobName, err, c.logTail(pod))
	case failed != "":
		return "", fmt.Errorf("garbage-collect in job %s/%s failed (%s)%s", c.ns, JobName, failed, c.logTail(pod))
	case pod == "":
		return "", fmt.Errorf("job %s/%s succeeded but its pod is gone: its summary cannot be read", c.ns, JobName)
	}
	return pod, nil
}

// logTail is the end of a GC pod's log, for an error, read on a context of its own (the
// collection's may be over).
func (c *collection) logTail(pod string) string {
	if pod == "" {
		return "; no pod of it was found, so no log"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := c.podLogs(ctx, pod, logTailLines)
	if err != nil {
		return fmt.Sprintf("; reading the log of pod %s: %v", pod, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil {
		return fmt.Sprintf("; reading the log of pod %s: %v", pod, err)
	}
	log := strings.TrimRight(string(b), "\n")
	if log == "" {
		return fmt.Sprintf("; pod %s logged nothing", pod)
	}
	return fmt.Sprintf("; last lines of pod %s:\n%s", pod, log)
}

// restore scales the push Deployment back to replicas, removes the annotation and waits until
// it is Ready, on a context of its own: it runs after a timeout or a cancel too. After a
// failure (failed), a GC pod may still be sweeping: it waits for it to stop first, for a
// while.
func (c *collection) restore(parent context.Context, replicas int32, failed bool) error {
	ctx, cancel := context.WithTimeoutCause(context.WithoutCancel(parent), restoreTimeout,
		fmt.Errorf("the restore's timeout of %s passed", restoreTimeout))
	defer cancel()
	var errs []error
	if err := c.deleteJob(ctx); err != nil {
		errs = append(errs, err)
	}
	if failed {
		stopCtx, cancel := context.WithTimeoutCause(ctx, stopTimeout, fmt.Errorf("%s passed", stopTimeout))
		err := c.poll(stopCtx, fmt.Sprintf("the pods of job %s/%s to stop", c.ns, JobName), func(ctx context.Context) (bool, string, error) {
			pods, err := c.gcPods(ctx)
			if err != nil {
				return false, "", err
			}
			var running []corev1.Pod
			for _, p := range pods {
				if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
					running = append(running, p)
				}
			}
			return len(running) == 0, describePods(running), nil
		})
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("a pod of job %s/%s may still be collecting while the push endpoint is back (a push now could lose a blob: run the collection again afterwards): %w", c.ns, JobName, err))
		}
	}
	c.say("restoring %s/%s to %d replicas", c.ns, sitecontract.RegistryPushName, replicas)
	if err := c.patchDeployment(ctx, map[string]any{
		"metadata": map[string]any{"annotations": map[string]any{AnnotationRestoreReplicas: nil}},
		"spec":     map[string]any{"replicas": replicas},
	}); err != nil {
		errs = append(errs, fmt.Errorf("restoring %s/%s to %d replicas (scale it back by hand: kubectl -n %s scale deployment %s --replicas=%d): %w",
			c.ns, sitecontract.RegistryPushName, replicas, c.ns, sitecontract.RegistryPushName, replicas, err))
		return errors.Join(errs...)
	}
	what := fmt.Sprintf("%s/%s to have %d ready replicas", c.ns, sitecontract.RegistryPushName, replicas)
	if err := c.poll(ctx, what, func(ctx context.Context) (bool, string, error) {
		d, err := c.cs.AppsV1().Deployments(c.ns).Get(ctx, sitecontract.RegistryPushName, metav1.GetOptions{})
		if err != nil {
			return false, "", fmt.Errorf("reading deployment %s/%s: %w", c.ns, sitecontract.RegistryPushName, err)
		}
		if d.Status.ObservedGeneration >= d.Generation && d.Status.ReadyReplicas >= replicas {
			return true, "", nil
		}
		return false, fmt.Sprintf("%d of %d ready", d.Status.ReadyReplicas, replicas), nil
	}); err != nil {
		errs = append(errs, fmt.Errorf("the push endpoint is scaled back but not ready (pushes fail until it is): %w", err))
	} else {
		c.say("%s/%s is back: %d ready replicas", c.ns, sitecontract.RegistryPushName, replicas)
	}
	return errors.Join(errs...)
}

// poll calls check every pollInterval until it is done or fails, or ctx ends (then the error
// is ctx's cause and the last status). It reports each new status at once and an unchanged one
// every progressEvery.
func (c *collection) poll(ctx context.Context, what string, check func(context.Context) (done bool, status string, err error)) error {
	start := time.Now()
	var last string
	var reported time.Time
	for {
		done, status, err := check(ctx)
		if err != nil {
			return c.cause(ctx, err)
		}
		if done {
			return nil
		}
		if status != last || time.Since(reported) >= progressEvery {
			c.say("waiting for %s: %s (%s)", what, status, time.Since(start).Round(time.Second))
			last, reported = status, time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (last: %s): %w", what, last, context.Cause(ctx))
		case <-time.After(pollInterval):
		}
	}
}

// cause is err, or the reason ctx ended when it did (a timeout says which).
func (c *collection) cause(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	}
	return err
}

// remaining is the time left before ctx's deadline, at most max.
func remaining(ctx context.Context, max time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if r := time.Until(dl); r < max {
			return r
		}
	}
	return max
}

// describePods is "name Phase[, terminating]" of each pod, sorted.
func describePods(pods []corev1.Pod) string {
	var out []string
	for _, p := range pods {
		s := p.Name + " " + string(p.Status.Phase)
		if p.DeletionTimestamp != nil {
			s += " (terminating)"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	switch len(out) {
	case 0:
		return "no pod"
	case 1:
		return "pod " + out[0]
	}
	return fmt.Sprintf("%d pods: %s", len(out), strings.Join(out, ", "))
}

// newest is the pod created last (the Job runs one: backoffLimit 0).
func newest(pods []corev1.Pod) corev1.Pod {
	n := pods[0]
	for _, p := range pods[1:] {
		if n.CreationTimestamp.Before(&p.CreationTimestamp) {
			n = p
		}
	}
	return n
}
