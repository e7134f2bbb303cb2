package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
	"airgap-site/internal/progress"
	"airgap-site/provider/contract"
	"airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
)

func TestCountEvents(t *testing.T) {
	row := Row{}
	pre := func(typ string, op apitype.OpType) events.EngineEvent {
		return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{
			Metadata: apitype.StepEventMetadata{Type: typ, Op: op}}}}
	}
	for _, e := range []events.EngineEvent{
		pre(contract.ImageToken, apitype.OpCreate),
		pre(contract.ImageToken, apitype.OpUpdate),
		pre(contract.ImageToken, apitype.OpSame),
		pre("kubernetes:apps/v1:Deployment", apitype.OpUpdate),
		{EngineEvent: apitype.EngineEvent{PolicyEvent: &apitype.PolicyEvent{EnforcementLevel: "mandatory"}}},
		{EngineEvent: apitype.EngineEvent{PolicyEvent: &apitype.PolicyEvent{EnforcementLevel: "advisory"}}},
	} {
		count(&row, e)
	}
	if row.ImagesToTransfer != 2 || row.PolicyMandatory != 1 || row.PolicyAdvisory != 1 {
		t.Errorf("row = %+v", row)
	}
}

func TestStackNamesAndOutput(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"Pulumi.osaka.yaml", "Pulumi.nagoya.yaml", "Pulumi.example.yaml", "Pulumi.yaml", "notes.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	names, err := StackNames(dir)
	if err != nil || strings.Join(names, ",") != "nagoya,osaka" {
		t.Errorf("StackNames = %v, %v", names, err)
	}
	rows := []Row{{Site: "osaka", Create: 2, Drift: -1, Reachable: ReachableYes, Status: "ok"}, {Site: "nagoya", Drift: 0, Status: "no state: never deployed from this backend"}}
	var table bytes.Buffer
	if err := WriteTable(&table, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SITE") || !strings.Contains(lines[1], "osaka") || !strings.Contains(lines[2], "never deployed") {
		t.Errorf("table:\n%s", table.String())
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rows); err != nil {
		t.Fatal(err)
	}
	var back []Row
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back) != 2 || back[0].Create != 2 {
		t.Errorf("json round trip: %v %+v", err, back)
	}
	if lastErrorLine("preview failed\n  error: one\n  error: the real cause\n") != "the real cause" {
		t.Errorf("lastErrorLine")
	}
}

// A site is reachable when its API server answers, found with the program's own probe on
// the kubeconfig its config names (relative to the project).
func TestSiteReachable(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	kubeconfig := func(file, server string) {
		kc := "apiVersion: v1\nkind: Config\ncurrent-context: site\nclusters: [{name: site, cluster: {server: " + server + "}}]\n" +
			"contexts: [{name: site, context: {cluster: site, user: admin}}]\nusers: [{name: admin, user: {}}]\n"
		if err := os.WriteFile(filepath.Join(dir, file), []byte(kc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig("up.yaml", "https://"+l.Addr().String())
	kubeconfig("down.yaml", "https://"+closed.Addr().String())
	ctx := context.Background()
	for file, want := range map[string]string{"up.yaml": ReachableYes, "down.yaml": ReachableNo} {
		cfg := &siteconfig.Config{Kubernetes: siteconfig.Kubernetes{Kubeconfig: file}}
		if got := siteReachable(ctx, cfg, dir); got != want {
			t.Errorf("%s: reachable = %s, want %s", file, got, want)
		}
	}
}

// fakeClock advances only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Every row, successful or not, reports how long its preview took.
func TestPreviewAllTimesEachSite(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	took := map[string]time.Duration{"osaka": 42 * time.Second, "nagoya": 1500 * time.Millisecond}
	var progress bytes.Buffer
	rows := previewAll(context.Background(), []string{"osaka", "nagoya"}, Options{Concurrency: 1, Progress: &progress}, clock.Now,
		func(_ context.Context, name string) Row {
			clock.Advance(took[name])
			status := "ok"
			if name == "nagoya" {
				status = "no state: never deployed from this backend"
			}
			return Row{Site: name, Status: status}
		})
	if len(rows) != 2 || rows[0].Site != "osaka" || rows[1].Site != "nagoya" {
		t.Fatalf("rows = %+v, want osaka then nagoya", rows)
	}
	for _, r := range rows {
		if want := took[r.Site].Seconds(); r.Seconds != want {
			t.Errorf("%s: Seconds = %v, want %v", r.Site, r.Seconds, want)
		}
	}
	if want := "[fleet] osaka: ok (42s)\n[fleet] nagoya: no state: never deployed from this backend (2s)\n"; progress.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", progress.String(), want)
	}
}

// fakeStack is a stack whose preview the test scripts.
type fakeStack struct {
	name      string
	resources int
	config    auto.ConfigMap
	configErr error
	// preview gets the event stream fleet passed; it returns the preview's result.
	preview   func(ch chan<- events.EngineEvent) (auto.PreviewResult, error)
	previewed bool
	refreshed bool
	// state is what Export returns (the zero value: a stack never deployed), or exportErr.
	state     apitype.UntypedDeployment
	exportErr error
}

func (f *fakeStack) Export(context.Context) (apitype.UntypedDeployment, error) {
	return f.state, f.exportErr
}

func (f *fakeStack) Name() string { return f.name }

func (f *fakeStack) GetAllConfig(context.Context) (auto.ConfigMap, error) {
	return f.config, f.configErr
}

func (f *fakeStack) Preview(_ context.Context, opts ...optpreview.Option) (auto.PreviewResult, error) {
	f.previewed = true
	var o optpreview.Options
	for _, opt := range opts {
		opt.ApplyOption(&o)
	}
	return f.preview(o.EventStreams[0])
}

func (f *fakeStack) PreviewRefresh(context.Context, ...optrefresh.Option) (auto.PreviewResult, error) {
	f.refreshed = true
	return auto.PreviewResult{ChangeSummary: map[apitype.OpType]int{}}, nil
}

// validConfig is the fixture site as the Automation API returns it, its API server the
// kubeconfig file named (relative to the project directory).
func validConfig(kubeconfigFile string) auto.ConfigMap {
	src := siteconfigtest.Source(siteconfigtest.ThreeNodes)
	src.Values[siteconfig.KeyKubernetes] = `{"kubeconfig":"` + kubeconfigFile + `"}`
	all := auto.ConfigMap{}
	for k, v := range src.Values {
		all[siteconfig.ConfigNamespace+":"+k] = auto.ConfigValue{Value: v, Secret: src.Secret[k]}
	}
	return all
}

// closedEvents ends a preview as the engine does: its events, then the stream closed.
func closedEvents(ch chan<- events.EngineEvent, evs ...events.EngineEvent) {
	for _, e := range evs {
		ch <- e
	}
	close(ch)
}

func diag(msg string) events.EngineEvent {
	return events.EngineEvent{EngineEvent: apitype.EngineEvent{DiagnosticEvent: &apitype.DiagnosticEvent{Message: msg, Severity: "error"}}}
}

// A preview that fails before the engine connects (a wrong passphrase, a missing plugin)
// never closes its event stream: the row still comes back, failed, with the reason.
func TestPreviewSiteFailingEarlyDoesNotHang(t *testing.T) {
	defer func(g time.Duration) { eventsGrace = g }(eventsGrace)
	eventsGrace = 200 * time.Millisecond
	dir := t.TempDir()
	writeKubeconfig(t, dir, "kc.yaml", "https://127.0.0.1:1")
	stack := &fakeStack{name: "osaka", resources: 12, config: validConfig("kc.yaml"),
		preview: func(ch chan<- events.EngineEvent) (auto.PreviewResult, error) {
			return auto.PreviewResult{}, errors.New("failed to run preview: exit status 255\nstderr: error: getting secrets manager: incorrect passphrase")
		}}
	done := make(chan Row)
	go func() {
		done <- previewSite(context.Background(), stack, stack.resources > 0, Options{ProjectDir: dir})
	}()
	select {
	case row := <-done:
		if !row.Failed || row.Status != "error: getting secrets manager: incorrect passphrase" {
			t.Errorf("row = %+v", row)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("previewSite hangs on a preview that never closed its event stream")
	}
}

// A stack whose config cannot be decrypted, or is invalid, is a failed row naming the
// reason and the fields, without running its program.
func TestPreviewSiteBrokenConfig(t *testing.T) {
	bad := validConfig("kc.yaml")
	bad["airgap-site:registry"] = auto.ConfigValue{Value: `{"nodePort":99,"logLevel":"loud"}`}
	for name, stack := range map[string]*fakeStack{
		"passphrase": {name: "kobe", configErr: errors.New("exit status 255\nstderr: error: incorrect passphrase\n")},
		"invalid":    {name: "nagoya", config: bad},
	} {
		row := previewSite(context.Background(), stack, stack.resources > 0, Options{ProjectDir: t.TempDir()})
		if !row.Failed || stack.previewed {
			t.Errorf("%s: failed=%v previewed=%v", name, row.Failed, stack.previewed)
		}
		want := map[string][]string{"passphrase": {"incorrect passphrase"}, "invalid": {"registry.nodePort", "registry.logLevel"}}[name]
		for _, w := range want {
			if !strings.Contains(row.Status, w) || strings.Contains(row.Status, "\n") {
				t.Errorf("%s: status %q does not name %q on one line", name, row.Status, w)
			}
		}
	}
}

// A program that fails is a row with the program's own words (the field), not "program failed:".
func TestPreviewSiteProgramErrorNamesTheField(t *testing.T) {
	dir := t.TempDir()
	writeKubeconfig(t, dir, "kc.yaml", "https://127.0.0.1:1")
	stack := &fakeStack{name: "osaka", resources: 3, config: validConfig("kc.yaml"),
		preview: func(ch chan<- events.EngineEvent) (auto.PreviewResult, error) {
			// As pulumi.Run and the language host report a program's error.
			closedEvents(ch, diag("an unhandled error occurred: program failed: \n1 error occurred:\n\t* invalid site configuration (nothing was changed):\n"+
				"  - images.bundle: \"./site-bundle\" is not a directory\n  - registry.image: \"x\" has no digest\n\n"),
				diag("an unhandled error occurred: program exited with non-zero exit code: 1"))
			return auto.PreviewResult{}, errors.New("failed to run preview: exit status 255\nerror: an unhandled error occurred: program exited with non-zero exit code: 1")
		}}
	row := previewSite(context.Background(), stack, stack.resources > 0, Options{ProjectDir: dir})
	if !row.Failed || row.Status != `error: images.bundle: "./site-bundle" is not a directory; registry.image: "x" has no digest` {
		t.Errorf("row = %+v", row)
	}
}

// A site never deployed says so and is not refreshed; an unreachable one says it is planned
// from state; both succeed.
func TestPreviewSiteNeverDeployedAndUnreachable(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	writeKubeconfig(t, dir, "up.yaml", "https://"+l.Addr().String())
	writeKubeconfig(t, dir, "down.yaml", "https://127.0.0.1:1")
	ok := func(ch chan<- events.EngineEvent) (auto.PreviewResult, error) {
		closedEvents(ch)
		return auto.PreviewResult{ChangeSummary: map[apitype.OpType]int{apitype.OpCreate: 9}}, nil
	}
	fresh := &fakeStack{name: "new", config: validConfig("up.yaml"), preview: ok}
	row := previewSite(context.Background(), fresh, fresh.resources > 0, Options{ProjectDir: dir, Refresh: true})
	if row.Failed || row.Deployed || row.Reachable != ReachableYes || !strings.Contains(row.Status, "never deployed") || fresh.refreshed || row.Create != 9 {
		t.Errorf("never deployed: %+v (refreshed %v)", row, fresh.refreshed)
	}
	away := &fakeStack{name: "away", resources: 20, config: validConfig("down.yaml"), preview: ok}
	row = previewSite(context.Background(), away, away.resources > 0, Options{ProjectDir: dir, Refresh: true})
	if row.Failed || !row.Deployed || row.Reachable != ReachableNo || row.Status != "ok (site not reachable: plan from state)" || away.refreshed {
		t.Errorf("unreachable: %+v (refreshed %v)", row, away.refreshed)
	}
	here := &fakeStack{name: "here", resources: 20, config: validConfig("up.yaml"), preview: ok}
	row = previewSite(context.Background(), here, here.resources > 0, Options{ProjectDir: dir, Refresh: true})
	if row.Failed || row.Status != "ok" || !here.refreshed || row.Drift != 0 {
		t.Errorf("reachable: %+v (refreshed %v)", row, here.refreshed)
	}
	if got := Failed([]Row{{Site: "a"}, {Site: "b", Failed: true}}); strings.Join(got, ",") != "b" {
		t.Errorf("Failed = %v", got)
	}
}

// A talos.manage site is probed at its cluster endpoint, not assumed reachable.
func TestSiteReachableTalosManaged(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for endpoint, want := range map[string]string{"https://" + l.Addr().String(): ReachableYes, "https://127.0.0.1:1": ReachableNo} {
		cfg := &siteconfig.Config{Talos: siteconfig.Talos{Manage: true, ClusterEndpoint: endpoint}}
		if got := siteReachable(context.Background(), cfg, t.TempDir()); got != want {
			t.Errorf("%s: reachable = %s, want %s", endpoint, got, want)
		}
	}
	cfg := &siteconfig.Config{Kubernetes: siteconfig.Kubernetes{Kubeconfig: "missing.yaml"}}
	if got := siteReachable(context.Background(), cfg, t.TempDir()); got != ReachableUnknown {
		t.Errorf("unreadable kubeconfig: reachable = %s, want unknown", got)
	}
}

func writeKubeconfig(t *testing.T, dir, file, server string) {
	t.Helper()
	kc := "apiVersion: v1\nkind: Config\ncurrent-context: site\nclusters: [{name: site, cluster: {server: " + server + "}}]\n" +
		"contexts: [{name: site, context: {cluster: site, user: admin}}]\nusers: [{name: admin, user: {}}]\n"
	if err := os.WriteFile(filepath.Join(dir, file), []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
}

// siteWithImages is a project whose bundle holds one:1 and two:2 on a shared base, and the
// config of a site taking both from it at a link of 25 kB/s.
func siteWithImages(t *testing.T) (project string, config auto.ConfigMap, one, two v1.Image, base v1.Layer) {
	t.Helper()
	project = t.TempDir()
	writeKubeconfig(t, project, "kc.yaml", "https://127.0.0.1:1")
	base = imagetest.Layer(t, 200_000)
	one = imagetest.Image(t, "linux/amd64", base, imagetest.Layer(t, 30_000))
	two = imagetest.Image(t, "linux/amd64", base, imagetest.Layer(t, 40_000))
	dir := filepath.Join(project, "site-bundle")
	bundletest.Write(t, dir, bundletest.Entry{Ref: "docker.io/library/one:1", Image: one}, bundletest.Entry{Ref: "ghcr.io/org/two:2", Image: two})
	if err := os.WriteFile(filepath.Join(project, "site.pub"), []byte(bundletest.Sign(t, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	config = validConfig("kc.yaml")
	config["airgap-site:images"] = auto.ConfigValue{Value: `{"bundle":"./site-bundle","trustedKeys":["site.pub"],"linkBytesPerSecond":25000,"list":["one:1","ghcr.io/org/two:2"]}`}
	return project, config, one, two, base
}

// stateAfter is the export of a stack whose last up copied one:1 (as provider 0.5 records it).
func stateAfter(t *testing.T, one v1.Image) apitype.UntypedDeployment {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"resources": []map[string]any{{
		"urn": "urn:pulumi:osaka::airgap-site::airgap-site:index:Images$airgap:index:Image::osaka-images-docker.io/library/one:1", "type": contract.ImageToken,
		"outputs": map[string]any{"repository": "docker.io/library/one", "tag": "1", "digest": imagetest.Digest(t, one).String(), "inventory": imagetest.Contents(t, one)},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return apitype.UntypedDeployment{Version: 3, Deployment: raw}
}

// A site's row says what its up sends, from its state and the bundle: the bytes (with their
// time at the link's rate), and only the images that send bytes are to transfer, not one the
// preview updates in place that sends nothing. When the state cannot be read, the row says so
// and keeps the preview's count.
func TestPreviewSiteBytesToSend(t *testing.T) {
	project, config, one, two, base := siteWithImages(t)
	// The preview updates both Images (say, retain changed): one:1 is at the site already.
	updateBoth := func(ch chan<- events.EngineEvent) (auto.PreviewResult, error) {
		pre := func(ref string) events.EngineEvent {
			return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{
				Metadata: apitype.StepEventMetadata{Type: contract.ImageToken, Op: apitype.OpUpdate, URN: "urn:x::" + ref}}}}
		}
		closedEvents(ch, pre("one:1"), pre("two:2"))
		return auto.PreviewResult{ChangeSummary: map[apitype.OpType]int{apitype.OpUpdate: 2}}, nil
	}
	stack := &fakeStack{name: "osaka", resources: 9, config: config, preview: updateBoth, state: stateAfter(t, one)}
	row := previewSite(context.Background(), stack, true, Options{ProjectDir: project})
	var want int64
	for h, n := range imagetest.Contents(t, two) {
		if h != imagetest.Digest(t, base).String() {
			want += n
		}
	}
	if row.Failed || row.ImagesToTransfer != 1 || row.BytesToSend != want || row.Update != 2 {
		t.Errorf("row = %+v; want 1 image to transfer, %d bytes (two's own)", row, want)
	}
	if wantSeconds := float64(want) / 25000; row.SendSeconds < wantSeconds*0.999 || row.SendSeconds > wantSeconds*1.001 {
		t.Errorf("SendSeconds = %v, want %v", row.SendSeconds, wantSeconds)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, []Row{row}); err != nil {
		t.Fatal(err)
	}
	if cell := progress.Bytes(want) + " (~"; !strings.Contains(table.String(), "TO SEND") || !strings.Contains(table.String(), cell) {
		t.Errorf("table lacks %q:\n%s", cell, table.String())
	}

	// Never deployed: everything, the base once, both images.
	fresh := &fakeStack{name: "new", config: config, preview: updateBoth}
	row = previewSite(context.Background(), fresh, false, Options{ProjectDir: project})
	var all int64
	for _, n := range imagetest.Contents(t, one) {
		all += n
	}
	if row.ImagesToTransfer != 2 || row.BytesToSend != all+want {
		t.Errorf("never deployed: %+v; want 2 images, %d bytes", row, all+want)
	}

	broken := &fakeStack{name: "kobe", resources: 9, config: config, preview: updateBoth, exportErr: errors.New("incorrect passphrase")}
	row = previewSite(context.Background(), broken, true, Options{ProjectDir: project})
	if row.Failed || row.BytesToSend != -1 || row.ImagesToTransfer != 2 || !strings.Contains(row.Status, "bytes to send not known: reading the stack's state: incorrect passphrase") {
		t.Errorf("state not readable: %+v", row)
	}
	if cell := sendCell(row); cell != "-" {
		t.Errorf("sendCell = %q, want -", cell)
	}
}

// stateWithUsage is state with the RegistryUsage an up records: free bytes of capBytes.
func stateWithUsage(t *testing.T, state apitype.UntypedDeployment, capBytes, free int64) apitype.UntypedDeployment {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(state.Deployment, &d); err != nil {
		t.Fatal(err)
	}
	d["resources"] = append(d["resources"].([]any), map[string]any{"type": contract.RegistryUsageToken, "outputs": map[string]any{
		"capacityBytes": capBytes, "referencedBytes": capBytes - free, "totalBytes": capBytes - free, "freeBytes": free, "measuredAt": "2026-12-02T14:00:00Z"}})
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return apitype.UntypedDeployment{Version: 3, Deployment: raw}
}

// A site's row shows its store's usage, and fails when its update cannot be stored there.
func TestPreviewSiteStoreUsage(t *testing.T) {
	project, config, one, _, _ := siteWithImages(t)
	var store map[string]any
	if err := json.Unmarshal([]byte(config["airgap-site:objectStore"].Value), &store); err != nil {
		t.Fatal(err)
	}
	store["capacity"] = "1G"
	raw, _ := json.Marshal(store)
	config["airgap-site:objectStore"] = auto.ConfigValue{Value: string(raw)}
	none := func(ch chan<- events.EngineEvent) (auto.PreviewResult, error) {
		closedEvents(ch)
		return auto.PreviewResult{ChangeSummary: map[apitype.OpType]int{apitype.OpCreate: 1}}, nil
	}
	roomy := &fakeStack{name: "osaka", resources: 9, config: config, preview: none, state: stateWithUsage(t, stateAfter(t, one), 1e9, 0.6e9)}
	row := previewSite(context.Background(), roomy, true, Options{ProjectDir: project})
	var table bytes.Buffer
	if err := WriteTable(&table, []Row{row}); err != nil {
		t.Fatal(err)
	}
	if row.Failed || row.Usage == nil || !strings.Contains(table.String(), "STORE") || !strings.Contains(table.String(), "400.0 MB of 1.0 GB (40%)") {
		t.Errorf("a roomy store: %+v\n%s", row, table.String())
	}
	full := &fakeStack{name: "kobe", resources: 9, config: config, preview: none, state: stateWithUsage(t, stateAfter(t, one), 1e9, 1000)}
	row = previewSite(context.Background(), full, true, Options{ProjectDir: project})
	if !row.Failed || !strings.Contains(row.Status, "cannot be stored") {
		t.Errorf("an update larger than the free space: %+v", row)
	}
}
