package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"airgap-site/internal/stackconfig"
	"airgap-site/registrygc"
	"airgap-site/siteconfig"
	"airgap-site/siteprobe"
)

// collectGarbage runs registrygc.Collect on the site of stack, reached with the kubeconfig its
// config names; the program is not run. The first interrupt cancels the collection, which then
// restores the push endpoint; a second one ends the process (the next run finishes the job).
func collectGarbage(ctx context.Context, stack auto.Stack, timeout time.Duration, out, errOut io.Writer) error {
	cfg, warnings, err := stackconfig.Load(ctx, stack)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(errOut, "warning:", w)
	}
	kubeconfig, err := siteKubeconfig(stack.Name(), cfg)
	if err != nil {
		return err
	}
	cs, err := registrygc.ClientFor(kubeconfig, cfg.Kubernetes.Context)
	if err != nil {
		return fmt.Errorf("stack %s: %w", stack.Name(), err)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			stop() // a second interrupt ends the process
			fmt.Fprintln(errOut, "interrupted: restoring the push endpoint (interrupt again to leave that to the next `airgap site gc`)")
		case <-finished:
		}
	}()

	res, err := registrygc.Collect(ctx, cs, registrygc.Options{
		Namespace: cfg.Registry.Namespace,
		Timeout:   timeout,
		Progress:  func(line string) { fmt.Fprintln(errOut, line) },
	})
	if err != nil {
		return fmt.Errorf("collecting the garbage of site %s's registry: %w", stack.Name(), err)
	}
	_, err = fmt.Fprintln(out, gcSummary(res))
	return err
}

// siteKubeconfig is the kubeconfig the site is reached with: the one its config names. A
// talos.manage site's kubeconfig comes from Talos inside the deployment, and the stack exports
// none.
func siteKubeconfig(stack string, cfg *siteconfig.Config) (string, error) {
	if cfg.Talos.Manage {
		return "", fmt.Errorf("stack %s manages Talos (talos.manage): its kubeconfig comes from Talos during the deployment and the stack has no kubeconfig output, so airgap site gc cannot reach the cluster", stack)
	}
	return siteprobe.ReadKubeconfig(cfg.Kubernetes)
}

// gcSummary is the one line a collection prints.
func gcSummary(r registrygc.Result) string {
	n := func(v int) string {
		if v < 0 {
			return "?"
		}
		return fmt.Sprint(v)
	}
	s := fmt.Sprintf("registry garbage collected in %s: %s blobs marked, %s blobs deleted, %s manifests deleted",
		r.Duration.Round(time.Second), n(r.BlobsMarked), n(r.BlobsDeleted), n(r.ManifestsDeleted))
	if r.BlobsMarked < 0 {
		s += " (garbage-collect printed no summary)"
	}
	if r.Resumed {
		s += " (finished an interrupted collection)"
	}
	return s
}
