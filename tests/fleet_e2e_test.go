//go:build e2e

package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"airgap-site/fleet"
)

// TestFleet previews three sites at once: one converged, two never deployed, and checks each
// row; then the CLI prints the same as JSON.
func TestFleet(t *testing.T) {
	s := &e2e
	project, err := makeProject(s.repo, s.repo, filepath.Join(t.TempDir(), "fleet"))
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := os.ReadFile(filepath.Join(project, "Pulumi.kwok.yaml"))
	// The fleet is the three sites below and nothing else.
	for _, f := range []string{"Pulumi.kwok.yaml", "Pulumi.dev.yaml"} {
		if err := os.Remove(filepath.Join(project, f)); err != nil {
			t.Fatal(err)
		}
	}
	sites := []string{"fleet-a", "fleet-b", "fleet-c"}
	for i, site := range sites {
		if err := os.WriteFile(filepath.Join(project, "Pulumi."+site+".yaml"), dev, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"stack", "init", site},
			{"config", "set", "-s", site, "--path", "objectStore.endpoint", s.site.S3Endpoint},
			{"config", "set", "-s", site, "--path", "registry.namespace", site},
			{"config", "set", "-s", site, "--path", "registry.nodePort", fmt.Sprint(32020 + 2*i)},
		} {
			if out, err := s.pulumiIn(t, project, args...); err != nil {
				t.Fatalf("pulumi %v: %v\n%s", args, err, out)
			}
		}
	}
	if out, err := s.pulumiIn(t, project, "up", "-s", "fleet-a", "--yes", "--skip-preview"); err != nil {
		t.Fatalf("up fleet-a: %v\n%s", err, lastLines(out, 20))
	}
	defer s.pulumiIn(t, project, "destroy", "-s", "fleet-a", "--yes", "--skip-preview")

	// The Automation API runs the pulumi CLI with this process's environment.
	for _, kv := range s.pulumiEnv()[len(os.Environ()):] {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	rows, err := fleet.Preview(context.Background(), fleet.Options{
		ProjectDir: project, StacksDir: project, Concurrency: 2, PolicyPack: s.policyPack, Refresh: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3: %+v", len(rows), rows)
	}
	var table strings.Builder
	fleet.WriteTable(&table, rows)
	t.Logf("\n%s", table.String())
	for _, r := range rows {
		// Every workload image is deployed by digest now: not even an advisory is left.
		if r.Status != "ok" || !r.Reachable || r.PolicyMandatory != 0 || r.PolicyAdvisory != 0 {
			t.Errorf("%s: %+v", r.Site, r)
		}
		switch r.Site {
		case "fleet-a":
			if r.Create+r.Update+r.Delete+r.Replace != 0 || r.Drift != 0 || r.Same == 0 {
				t.Errorf("converged site plans changes or drift: %+v", r)
			}
		default:
			if r.Create < 9 || r.Drift != 0 {
				t.Errorf("new site: %+v", r)
			}
		}
	}

	cmd := exec.Command("go", "run", "./cmd/airgap", "fleet", "--json", "--project", project, "--stacks-dir", project, "fleet-a", "fleet-b")
	cmd.Dir = s.repo
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("airgap fleet --json: %v", err)
	}
	var parsed []fleet.Row
	if err := json.Unmarshal(out, &parsed); err != nil || len(parsed) != 2 || parsed[0].Site != "fleet-a" {
		t.Errorf("airgap fleet --json printed %s (%v)", out, err)
	}
}
