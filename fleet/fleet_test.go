package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"airgap-site/provider/contract"
	"airgap-site/siteconfig"
)

func TestCountEvents(t *testing.T) {
	row := Row{Reachable: true}
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
	if row.ImagesToTransfer != 2 || row.PolicyMandatory != 1 || row.PolicyAdvisory != 1 || !row.Reachable {
		t.Errorf("row = %+v", row)
	}
}

func TestStackNamesAndOutput(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"Pulumi.osaka.yaml", "Pulumi.nagoya.yaml", "Pulumi.yaml", "notes.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	names, err := StackNames(dir)
	if err != nil || strings.Join(names, ",") != "nagoya,osaka" {
		t.Errorf("StackNames = %v, %v", names, err)
	}
	rows := []Row{{Site: "osaka", Create: 2, Drift: -1, Reachable: true, Status: "ok"}, {Site: "nagoya", Drift: 0, Status: "no state: never deployed from this backend"}}
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
	for file, want := range map[string]bool{"up.yaml": true, "down.yaml": false} {
		cfg := &siteconfig.Config{Kubernetes: siteconfig.Kubernetes{Kubeconfig: file}}
		if got := siteReachable(ctx, cfg, dir); got != want {
			t.Errorf("%s: reachable = %v, want %v", file, got, want)
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
