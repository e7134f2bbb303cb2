package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
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

	"airgap-site/capacity"
	"airgap-site/internal/progress"
	"airgap-site/internal/stackconfig"
	"airgap-site/provider/contract"
	"airgap-site/siteconfig"
	"airgap-site/siteprobe"
	"airgap-site/transfer"
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
	// Env, when set, adds to (or overrides) this process's environment for the pulumi runs:
	// the backend, the passphrase, the kubeconfig.
	Env map[string]string
}

// Row is one site.
type Row struct {
	Site    string `json:"site"`
	Create  int    `json:"create"`
	Update  int    `json:"update"`
	Delete  int    `json:"delete"`
	Replace int    `json:"replace"`
	Same    int    `json:"same"`
	// ImagesToTransfer are the images the up sends bytes for (an Image updated in place that
	// sends nothing does not count); without an estimate, the Images the preview creates,
	// updates or replaces.
	ImagesToTransfer int `json:"imagesToTransfer"`
	// BytesToSend is what the up sends to the site registry (transfer.ForStack: from the
	// state and the bundle, without reaching the site); -1: not known (the preview failed, or
	// the state or the bundle could not be read: Status says why).
	BytesToSend int64 `json:"bytesToSend"`
	// SendSeconds is how long that takes at images.linkBytesPerSecond; 0 when it is not set.
	SendSeconds float64 `json:"sendSeconds,omitempty"`
	// Usage is what the site registry's store held when the last up or refresh measured it,
	// from the state; nil when it records none. An update that cannot be stored in it
	// (capacity.Check) fails the row.
	Usage           *capacity.Usage `json:"registryUsage,omitempty"`
	Drift           int             `json:"drift"` // -1: not checked or not reachable
	PolicyMandatory int             `json:"policyViolations"`
	PolicyAdvisory  int             `json:"policyAdvisories"`
	// Reachable is yes, no, or unknown (the site's config could not be read).
	Reachable string `json:"reachable"`
	// Deployed is false when the stack has no resources: never deployed (or destroyed).
	Deployed bool `json:"deployed"`
	// Failed marks a site whose preview failed or was blocked: fleet then exits non-zero.
	Failed  bool    `json:"failed"`
	Status  string  `json:"status"`
	Seconds float64 `json:"seconds"`
}

// Reachability values of Row.Reachable.
const (
	ReachableYes     = "yes"
	ReachableNo      = "no"
	ReachableUnknown = "unknown"
)

// Templates are stack files that describe how to write a site, not a site: fleet skips them
// unless they are named on the command line.
var Templates = []string{"example"}

// StackNames lists the stacks that have a Pulumi.<stack>.yaml in dir, templates left out.
func StackNames(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "Pulumi.*.yaml"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml")
		if slices.Contains(Templates, name) {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// Failed lists the sites whose row failed.
func Failed(rows []Row) []string {
	var failed []string
	for _, r := range rows {
		if r.Failed {
			failed = append(failed, r.Site)
		}
	}
	return failed
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
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(opts.ProjectDir), auto.EnvVars(opts.Env))
	if err != nil {
		return nil, fmt.Errorf("opening the project in %s: %w", opts.ProjectDir, err)
	}
	// Which stacks have resources, from one listing: Stack.Info selects the stack in the
	// workspace to read it, which races with the other sites' previews.
	resources := map[string]int{}
	if stacks, err := ws.ListStacks(ctx); err == nil {
		for _, st := range stacks {
			if st.ResourceCount != nil { // "osaka", or "organization/airgap-site/osaka"
				resources[st.Name[strings.LastIndex(st.Name, "/")+1:]] = *st.ResourceCount
			}
		}
	}
	return previewAll(ctx, names, opts, time.Now, func(ctx context.Context, name string) Row {
		stack, err := auto.SelectStack(ctx, name, ws)
		if err != nil {
			if auto.IsSelectStack404Error(err) {
				return Row{Site: name, Drift: -1, Reachable: ReachableUnknown,
					Status: "never deployed: no stack in this backend (pulumi stack init " + name + ")"}
			}
			return Row{Site: name, Drift: -1, Reachable: ReachableUnknown, Failed: true, Status: "error: " + firstLine(err.Error())}
		}
		return previewSite(ctx, &stack, resources[name] > 0, opts)
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

// siteStack is what fleet needs of a stack (*auto.Stack; a fake in tests).
type siteStack interface {
	Name() string
	GetAllConfig(ctx context.Context) (auto.ConfigMap, error)
	Preview(ctx context.Context, opts ...optpreview.Option) (auto.PreviewResult, error)
	PreviewRefresh(ctx context.Context, opts ...optrefresh.Option) (auto.PreviewResult, error)
	transfer.State
}

// eventsGrace is how long a failed preview's events may still arrive. The Automation API
// closes the event stream only when the engine connected to it: a preview that fails before
// (a wrong passphrase, a missing plugin) never closes it, so fleet must not wait for that.
var eventsGrace = 5 * time.Second

// previewSite previews one site (and, with opts.Refresh, a refresh) into its row. The site's
// config is read and validated first, as the program does: a broken config is the row's
// reason, naming its fields, without running the program.
// deployed says whether the stack has resources.
func previewSite(ctx context.Context, stack siteStack, deployed bool, opts Options) Row {
	row := Row{Site: stack.Name(), Drift: -1, BytesToSend: -1, Reachable: ReachableUnknown, Deployed: deployed}
	all, err := stack.GetAllConfig(ctx)
	if err != nil {
		row.Failed, row.Status = true, "error: reading the stack config: "+errorReason(err.Error(), nil)
		return row
	}
	cfg, _, err := siteconfig.Load(stackconfig.Source(all), stack.Name())
	if err != nil {
		row.Failed, row.Status = true, "error: "+configReason(err)
		return row
	}
	row.Reachable = siteReachable(ctx, cfg, opts.ProjectDir)

	var mu sync.Mutex
	var counted Row
	var diags []string
	ch := make(chan events.EngineEvent)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			mu.Lock()
			count(&counted, e)
			if d := e.DiagnosticEvent; d != nil && d.Severity == "error" {
				diags = append(diags, d.Message)
			}
			mu.Unlock()
		}
	}()
	popts := []optpreview.Option{optpreview.EventStreams(ch)}
	if opts.PolicyPack != "" {
		popts = append(popts, optpreview.PolicyPacks(opts.PolicyPack))
	}
	res, err := stack.Preview(ctx, popts...)
	if err == nil {
		<-done // a successful preview closes the stream once every event is sent
	} else {
		select {
		case <-done:
		case <-time.After(eventsGrace):
		case <-ctx.Done():
		}
	}
	mu.Lock()
	row.ImagesToTransfer, row.PolicyMandatory, row.PolicyAdvisory = counted.ImagesToTransfer, counted.PolicyMandatory, counted.PolicyAdvisory
	diagnostics := slices.Clone(diags)
	mu.Unlock()
	row.Create = res.ChangeSummary[apitype.OpCreate]
	row.Update = res.ChangeSummary[apitype.OpUpdate]
	row.Delete = res.ChangeSummary[apitype.OpDelete]
	row.Replace = res.ChangeSummary[apitype.OpReplace]
	row.Same = res.ChangeSummary[apitype.OpSame]
	switch {
	case err != nil && row.PolicyMandatory > 0:
		row.Failed, row.Status = true, fmt.Sprintf("blocked by %d policy violation(s)", row.PolicyMandatory)
	case err != nil:
		row.Failed, row.Status = true, "error: "+errorReason(err.Error(), diagnostics)
	case row.Reachable == ReachableNo:
		row.Status = "ok (site not reachable: plan from state)"
	default:
		row.Status = "ok"
	}
	if err == nil && !row.Deployed {
		row.Status += " (never deployed: every resource is new)"
	}
	if err == nil {
		toSend(ctx, stack, cfg, opts.ProjectDir, &row)
	}
	if opts.Refresh && err == nil && row.Reachable == ReachableYes && row.Deployed {
		refresh, err := stack.PreviewRefresh(ctx, optrefresh.EventStreams())
		if err == nil {
			row.Drift = refresh.ChangeSummary[apitype.OpUpdate] + refresh.ChangeSummary[apitype.OpDelete]
		}
	}
	return row
}

// toSend fills in what the site's up sends, from its state and the bundle (transfer.ForStack):
// the bytes, their time at images.linkBytesPerSecond, and the images that send any, which
// replace the preview's count. When that cannot be told, the status says why and the
// preview's count stays.
func toSend(ctx context.Context, st transfer.State, cfg *siteconfig.Config, projectDir string, row *Row) {
	est, err := transfer.ForStack(ctx, st, cfg, projectDir)
	switch {
	case err != nil:
		row.Status += " (bytes to send not known: " + oneLine(err.Error()) + ")"
	case est == nil: // no image from a bundle
		row.BytesToSend = 0
	default:
		row.BytesToSend = est.Bytes
		row.ImagesToTransfer = len(est.Sending())
		rate, _ := cfg.Images.UpRate()
		row.SendSeconds = transfer.Duration(est.Bytes, rate).Seconds()
		row.Usage = est.Usage
		capBytes, _ := cfg.ObjectStore.CapacityBytes()
		switch verdict, why := capacity.Check(est.Bytes, est.Usage, capBytes); verdict {
		case capacity.TooLarge:
			row.Failed, row.Status = true, "error: the site registry's store: "+why
		case capacity.Tight:
			row.Status += " (store: " + why + ")"
		}
	}
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

// siteReachable probes a site's Kubernetes API as its program does (siteprobe.Site), from the
// site's own config: a direct answer, not a reading of the program's warnings. A talos.manage
// site is probed at talos.clusterEndpoint. A kubeconfig that cannot be read or names no
// server gives unknown: its preview then says what is wrong.
func siteReachable(ctx context.Context, cfg *siteconfig.Config, projectDir string) string {
	var kubeconfig string
	if !cfg.Talos.Manage {
		k := cfg.Kubernetes
		// The program runs in the project directory; so do its relative paths.
		if k.Kubeconfig != "" && !filepath.IsAbs(k.Kubeconfig) && !strings.HasPrefix(k.Kubeconfig, "~/") {
			k.Kubeconfig = filepath.Join(projectDir, k.Kubeconfig)
		}
		var err error
		if kubeconfig, err = siteprobe.ReadKubeconfig(k); err != nil {
			return ReachableUnknown
		}
	}
	server, err := siteprobe.Site(ctx, cfg, kubeconfig)
	switch {
	case server == "":
		return ReachableUnknown
	case err != nil:
		return ReachableNo
	}
	return ReachableYes
}

// WriteTable prints one row per site for people.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\t+\t~\t-\t+-\tIMAGES\tTO SEND\tSTORE\tDRIFT\tPOLICY\tREACHABLE\tSTATUS")
	for _, r := range rows {
		drift := "-"
		if r.Drift >= 0 {
			drift = fmt.Sprint(r.Drift)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%d (+%d advisory)\t%s\t%s\n", r.Site, r.Create, r.Update, r.Delete, r.Replace,
			r.ImagesToTransfer, sendCell(r), r.Usage.Summary(), drift, r.PolicyMandatory, r.PolicyAdvisory, r.Reachable, r.Status)
	}
	return tw.Flush()
}

// sendCell is the bytes to send, with their time at the link's rate when it is set: "12.3 MB
// (~49s)"; "-" when not known.
func sendCell(r Row) string {
	if r.BytesToSend < 0 {
		return "-"
	}
	if r.SendSeconds > 0 {
		return fmt.Sprintf("%s (~%s)", progress.Bytes(r.BytesToSend), progress.Duration(time.Duration(r.SendSeconds*float64(time.Second))))
	}
	return progress.Bytes(r.BytesToSend)
}

// WriteJSON prints the rows for scripts.
func WriteJSON(w io.Writer, rows []Row) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // statuses quote commands: `set --secret <value>`
	return enc.Encode(rows)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// configReason is a config error on one line: every field's problem, "; "-separated.
func configReason(err error) string {
	var verr *siteconfig.ValidationError
	if errors.As(err, &verr) {
		parts := make([]string, 0, len(verr.Errors))
		for _, e := range verr.Errors {
			parts = append(parts, oneLine(e.Error()))
		}
		return "invalid site configuration: " + strings.Join(parts, "; ")
	}
	return oneLine(err.Error())
}

// errorReason picks what tells why a preview failed: the engine's error diagnostics (the
// program's own words, naming the field) without the wrappers around them, else the last
// "error:" line of the CLI's output.
func errorReason(cliErr string, diagnostics []string) string {
	var parts []string
	for _, d := range diagnostics {
		for _, l := range strings.Split(d, "\n") {
			l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "* "))
			if l == "" || wrapperLine.MatchString(l) || slices.Contains(parts, l) {
				continue
			}
			parts = append(parts, strings.TrimPrefix(l, "- "))
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, "; ")
	}
	return lastErrorLine(cliErr)
}

// wrapperLine matches lines that only wrap the real error (pulumi.Run's "an unhandled error
// occurred: program failed:", the language host's exit code, the multierror's count, the
// config report's title).
var wrapperLine = regexp.MustCompile(`^((an unhandled error occurred: )?program failed:|an unhandled error occurred:|` +
	`(an unhandled error occurred: )?program exited with non-zero exit code: \d+|\d+ errors? occurred:|` +
	`invalid site configuration \(nothing was changed\):|update failed|preview failed)$`)

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// lastErrorLine picks the most telling line of an engine error (the last "error:" line).
func lastErrorLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		// "error: x", "stderr: error: x"
		if _, after, ok := strings.Cut(lines[i], "error: "); ok && strings.TrimSpace(after) != "" {
			return strings.TrimSpace(after)
		}
	}
	return firstLine(s)
}
