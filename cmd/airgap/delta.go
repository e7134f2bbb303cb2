package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/bundle"
	"airgap-site/internal/progress"
	"airgap-site/internal/pull"
	"airgap-site/inventory"
)

// against is the site inventory a delta bundle is made against (--against, --against-state).
type against struct {
	what string // "stack osaka" or "state osaka.json", for the output
	inv  *inventory.Inventory
}

// loadAgainst reads the inventory --against or --against-state names; nil without either.
func loadAgainst(ctx context.Context, o bundleOptions) (*against, error) {
	switch {
	case o.Against != "" && o.AgainstState != "":
		return nil, errors.New("--against and --against-state: give one, the stack or an export of its state")
	case o.AgainstState != "":
		inv, err := inventory.ReadFile(o.AgainstState)
		if err != nil {
			return nil, fmt.Errorf("--against-state: %w", err)
		}
		return &against{what: "the state in " + o.AgainstState, inv: inv}, nil
	case o.Against != "":
		raw, err := exportStack(ctx, o.Pulumi, o.Project, o.Against)
		if err != nil {
			return nil, fmt.Errorf("--against: %w", err)
		}
		inv, err := inventory.Parse(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("--against: stack %s: %w", o.Against, err)
		}
		return &against{what: "stack " + o.Against, inv: inv}, nil
	}
	return nil, nil
}

// exportStack runs `pulumi stack export --stack <stack>` in the project directory. Without
// --show-secrets pulumi decrypts nothing, so no passphrase is needed (measured with the file
// backend and the passphrase secrets provider, pulumi v3.274.1); the backend must be the one
// the stack lives in (PULUMI_BACKEND_URL, or pulumi login).
func exportStack(ctx context.Context, pulumi, project, stack string) ([]byte, error) {
	if pulumi == "" {
		pulumi = "pulumi"
	}
	cmd := exec.CommandContext(ctx, pulumi, "stack", "export", "--stack", stack)
	cmd.Dir = project
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		hint := "check that PULUMI_BACKEND_URL (or pulumi login) names the backend holding the stack, or take the export elsewhere and pass it with --against-state FILE"
		if strings.Contains(strings.ToLower(msg), "passphrase") {
			hint = "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the stack's passphrase, or pass an export with --against-state FILE"
		}
		dir := project
		if dir == "" {
			dir = "."
		}
		return nil, fmt.Errorf("running %s stack export --stack %s in %s: %w: %s; %s", pulumi, stack, dir, err, msg, hint)
	}
	return out, nil
}

// present is what the writer may leave out: each digest the site holds, with one repository
// holding it (the first by name).
func (a *against) present() map[v1.Hash]bundle.AssumedBlob {
	out := map[v1.Hash]bundle.AssumedBlob{}
	for _, b := range a.inv.Blobs() {
		if len(b.Repositories) > 0 {
			out[b.Digest] = bundle.AssumedBlob{Digest: b.Digest, Size: b.Size, Repository: b.Repositories[0]}
		}
	}
	return out
}

// report says, before anything is pulled, what the delta is made against.
func (a *against) report(out io.Writer) {
	fmt.Fprintf(out, "delta against %s: the site holds %d blobs and manifests (%s) of %d images\n",
		a.what, len(a.inv.Blobs()), progress.Bytes(a.inv.Bytes()), len(a.inv.Images()))
	for _, img := range a.inv.Without() {
		fmt.Fprintf(out, "  this stack's state predates inventories (provider before 0.5.0); the delta would carry everything for %s\n", img)
	}
}

// reportDelta says what the bundle carries of one image (and what is attached to it).
func reportDelta(out io.Writer, ref string, p pull.Pulled) {
	size, assumed := p.Size, p.Assumed
	for _, e := range p.Attached {
		size, assumed = size+e.Size, assumed+e.Assumed
	}
	fmt.Fprintf(out, "  %s: carries %s of %s (%s already at the site)\n", ref, progress.Bytes(size-assumed), progress.Bytes(size), progress.Bytes(assumed))
}

// reportDeltaTotal says what the whole bundle carries: its stored bytes, of those plus the
// blobs it assumes.
func reportDeltaTotal(out io.Writer, a *against, stored int64, assumes []bundle.AssumedBlob) {
	var n int64
	for _, b := range assumes {
		n += b.Size
	}
	fmt.Fprintf(out, "delta against %s: the bundle carries %s of %s (%d blobs, %s, assumed at the site and recorded in %s)\n",
		a.what, progress.Bytes(stored), progress.Bytes(stored+n), len(assumes), progress.Bytes(n), bundle.ManifestFile)
}
