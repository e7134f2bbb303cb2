package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"golang.org/x/sync/errgroup"

	"airgap-site/components/site"
	"airgap-site/internal/stackconfig"
	"airgap-site/provider/contract"
	"airgap-site/siteconfig"
)

// Options select and tune the previews.
type Options struct {
	// ProjectDir holds Pulumi.yaml; StacksDir the stack files (default ProjectDir/stacks).
	ProjectDir string
	StacksDir  string
	// Stacks limits the previews to these stacks; empty means every stack file.
	Stacks []string
	// Concurrency bounds previews running at once (each runs the program); 0 means 2.
	Concurrency int
	// PolicyPack, when set, is passed to every preview.
	PolicyPack string
	// Refresh also runs a refresh preview per site to count drift.
	Refresh bool
	// Progress, when set, receives a line as each site finishes.
	Progress io.Writer
}

// Row is one site.
type Row struct {
	Site             string  `json:"site"`
	Create           int     `json:"create"`
	Update           int     `json:"update"`
	Delete           int     `json:"delete"`
	Replace          int     `json:"replace"`
	Same             int     `json:"same"`
	ImagesToTransfer int     `json:"imagesToTransfer"`
	Drift            int     `json:"drift"` // -1: not checked or not reachable
	PolicyMandatory  int     `json:"policyViolations"`
	PolicyAdvisory   int     `json:"policyAdvisories"`
	Reachable        bool    `json:"reachable"`
	Status           string  `json:"status"`
	Seconds          float64 `json:"seconds"`
}

// StackNames lists the stacks that have a Pulumi.<stack>.yaml in dir.
func StackNames(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "Pulumi.*.yaml"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml"))
	}
	slices.Sort(names)
	return names, nil
}

// Preview previews every selected site and returns one row per site, in name order.
func Preview(ctx context.Context, opts Options) ([]Row, error) {
	if opts.StacksDir == "" {
		opts.StacksDir = filepath.Join(opts.ProjectDir, "stacks")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 2
	}
	names := opts.Stacks
	if len(names) == 0 {
		var err error
		if names, err = StackNames(opts.StacksDir); err != nil {
			return nil, err
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no stack files (Pulumi.<site>.yaml) in %s", opts.StacksDir)
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(opts.ProjectDir))
	if err != nil {
		return nil, fmt.Errorf("opening the project in %s: %w", opts.ProjectDir, err)
	}
	return previewAll(ctx, names, opts, time.Now, func(ctx context.Context, name string) Row {
		return previewSite(ctx, ws, name, opts)
	}), nil
}

// previewAll runs preview for every site, opts.Concurrency at a time, and times each with
// now; the rows are in the order of names.
func previewAll(ctx context.Context, names []string, opts Options, now func() time.Time,
	preview func(ctx context.Context, name string) Row) []Row {
	rows := make([]Row, len(names))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	for i, name := range names {
		g.Go(func() error {
			start := now()
			row := preview(gctx, name)
			row.Seconds = now().Sub(start).Seconds()
			rows[i] = row
			if opts.Progress != nil {
				mu.Lock()
				fmt.Fprintf(opts.Progress, "[fleet] %s: %s (%.0fs)\n", name, row.Status, row.Seconds)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return rows
}

// previewSite previews one site (and, with opts.Refresh, a refresh) into its row.
func previewSite(ctx context.Context, ws auto.Workspace, name string, opts Options) Row {
	row := Row{Site: name, Drift: -1, Reachable: true}
	stack, err := auto.SelectStack(ctx, name, ws)
	if err != nil {
		if auto.IsSelectStack404Error(err) {
			row.Status = "no state: never deployed from this backend"
		} else {
			row.Status = "error: " + firstLine(err.Error())
		}
		return row
	}
	if cfg, _, err := stackconfig.Load(ctx, stack); err == nil {
		row.Reachable = siteReachable(ctx, cfg, opts.ProjectDir)
	} // else the preview reports the broken config

	ch := make(chan events.EngineEvent)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			count(&row, e)
		}
	}()
	popts := []optpreview.Option{optpreview.EventStreams(ch)}
	if opts.PolicyPack != "" {
		popts = append(popts, optpreview.PolicyPacks(opts.PolicyPack))
	}
	res, err := stack.Preview(ctx, popts...)
	<-done
	row.Create = res.ChangeSummary[apitype.OpCreate]
	row.Update = res.ChangeSummary[apitype.OpUpdate]
	row.Delete = res.ChangeSummary[apitype.OpDelete]
	row.Replace = res.ChangeSummary[apitype.OpReplace]
	row.Same = res.ChangeSummary[apitype.OpSame]
	switch {
	case err != nil && row.PolicyMandatory > 0:
		row.Status = fmt.Sprintf("blocked by %d policy violation(s)", row.PolicyMandatory)
	case err != nil:
		row.Status = "error: " + lastErrorLine(err.Error())
	case !row.Reachable:
		row.Status = "ok (site not reachable: plan from state)"
	default:
		row.Status = "ok"
	}
	if opts.Refresh && err == nil && row.Reachable {
		refresh, err := stack.PreviewRefresh(ctx, optrefresh.EventStreams())
		if err == nil {
			row.Drift = refresh.ChangeSummary[apitype.OpUpdate] + refresh.ChangeSummary[apitype.OpDelete]
		}
	}
	return row
}

func count(row *Row, e events.EngineEvent) {
	switch {
	case e.ResourcePreEvent != nil:
		md := e.ResourcePreEvent.Metadata
		if md.Type == contract.ImageToken {
			switch md.Op {
			case apitype.OpCreate, apitype.OpUpdate, apitype.OpReplace, apitype.OpCreateReplacement:
				row.ImagesToTransfer++
			}
		}
	case e.PolicyEvent != nil:
		if e.PolicyEvent.EnforcementLevel == "mandatory" {
			row.PolicyMandatory++
		} else {
			row.PolicyAdvisory++
		}
	}
}

// siteReachable probes a site's Kubernetes API as its program does (site.Probe), from the
// site's own config: a direct answer, not a reading of the program's warnings. A site whose
// kubeconfig comes from Talos (talos.manage), or cannot be read, counts as reachable here:
// its preview then says what is wrong.
func siteReachable(ctx context.Context, cfg *siteconfig.Config, projectDir string) bool {
	if cfg.Talos.Manage {
		return true
	}
	k := cfg.Kubernetes
	// The program runs in the project directory; so do its relative paths.
	if k.Kubeconfig != "" && !filepath.IsAbs(k.Kubeconfig) && !strings.HasPrefix(k.Kubeconfig, "~/") {
		k.Kubeconfig = filepath.Join(projectDir, k.Kubeconfig)
	}
	kubeconfig, err := site.ReadKubeconfig(k)
	if err != nil {
		return true
	}
	server, err := site.Probe(ctx, kubeconfig, k.Context)
	return server == "" || err == nil
}

// WriteTable prints one row per site for people.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\t+\t~\t-\t+-\tIMAGES\tDRIFT\tPOLICY\tREACHABLE\tSTATUS")
	for _, r := range rows {
		drift := "-"
		if r.Drift >= 0 {
			drift = fmt.Sprint(r.Drift)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d (+%d advisory)\t%v\t%s\n", r.Site, r.Create, r.Update, r.Delete, r.Replace,
			r.ImagesToTransfer, drift, r.PolicyMandatory, r.PolicyAdvisory, r.Reachable, r.Status)
	}
	return tw.Flush()
}

// WriteJSON prints the rows for scripts.
func WriteJSON(w io.Writer, rows []Row) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// lastErrorLine picks the most telling line of an engine error (the last "error:" line).
func lastErrorLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "error:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "error:"))
		}
	}
	return firstLine(s)
}
