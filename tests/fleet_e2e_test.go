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
	"time"

	"airgap-site/fleet"
)

// TestFleet previews three sites at once: one converged, two never deployed, and checks each
// row; then the CLI prints the same as JSON.
func TestFleet(t *testing.T) {
	// Parallel: its own project, stacks, namespaces and NodePorts (see tests/doc.go).
	t.Parallel()
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
			// Named in the config, not by $KUBECONFIG: fleet probes each site in this process.
			{"config", "set", "-s", site, "--path", "kubernetes.kubeconfig", s.site.Kubeconfig},
		} {
			if out, err := s.pulumiIn(t, project, args...); err != nil {
				t.Fatalf("pulumi %v: %v\n%s", args, err, out)
			}
		}
	}
	// A fourth stack whose secrets were set under another passphrase: its config cannot be
	// read with the fleet's. And the annotated example, a template and not a site.
	if err := os.WriteFile(filepath.Join(project, "Pulumi.fleet-locked.yaml"), []byte("config: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"stack", "init", "fleet-locked"}, {"config", "set", "-s", "fleet-locked", "--secret", "s3AccessKey", "locked-user"}} {
		cmd := s.pulumiCommand(project, args...)
		cmd.Env = append(cmd.Env, "PULUMI_CONFIG_PASSPHRASE=another-sites-passphrase")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pulumi %v: %v\n%s", args, err, out)
		}
	}
	example, err := os.ReadFile(filepath.Join(s.repo, "stacks", "Pulumi.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "Pulumi.example.yaml"), example, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := s.pulumiIn(t, project, "up", "-s", "fleet-a", "--yes", "--skip-preview"); err != nil {
		t.Fatalf("up fleet-a: %v\n%s", err, lastLines(out, 20))
	}
	defer s.pulumiIn(t, project, "destroy", "-s", "fleet-a", "--yes", "--skip-preview")

	// The Automation API runs the pulumi CLI with this process's environment and these.
	env := map[string]string{}
	for _, kv := range s.pulumiEnv()[len(os.Environ()):] {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	rows, err := fleet.Preview(context.Background(), fleet.Options{
		ProjectDir: project, StacksDir: project, Concurrency: 2, PolicyPack: s.policyPack, Refresh: true, Env: env,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4 (the example skipped): %+v", len(rows), rows)
	}
	var table strings.Builder
	fleet.WriteTable(&table, rows)
	t.Logf("\n%s", table.String())
	for _, r := range rows {
		if r.Site == "fleet-locked" {
			if !r.Failed || !strings.Contains(r.Status, "passphrase") || r.Reachable != fleet.ReachableUnknown {
				t.Errorf("locked site: %+v", r)
			}
			continue
		}
		// Every workload image is deployed by digest now: not even an advisory is left.
		if r.Failed || r.Reachable != fleet.ReachableYes || r.PolicyMandatory != 0 || r.PolicyAdvisory != 0 {
			t.Errorf("%s: %+v", r.Site, r)
		}
		switch r.Site {
		case "fleet-a":
			if r.Status != "ok" || !r.Deployed || r.Create+r.Update+r.Delete+r.Replace != 0 || r.Drift != 0 || r.Same == 0 {
				t.Errorf("converged site plans changes or drift: %+v", r)
			}
		default:
			if r.Status != "ok (never deployed: every resource is new)" || r.Deployed || r.Create < 9 {
				t.Errorf("new site: %+v", r)
			}
		}
	}
	if failed := fleet.Failed(rows); strings.Join(failed, ",") != "fleet-locked" {
		t.Errorf("failed sites = %v, want fleet-locked", failed)
	}

	// The CLI over the locked site and a valid one: both rows, non-zero, well within a minute.
	airgap := s.airgap
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fleetCmd := exec.CommandContext(ctx, airgap, "fleet", "--project", project, "--stacks-dir", project, "fleet-locked", "fleet-b")
	fleetCmd.Env = s.pulumiEnv()
	start := time.Now()
	out, err := fleetCmd.CombinedOutput()
	t.Logf("airgap fleet (%.1fs):\n%s", time.Since(start).Seconds(), out)
	if ctx.Err() != nil {
		t.Fatalf("airgap fleet did not end within 60 s")
	}
	if err == nil || !strings.Contains(string(out), "1 of 2 sites failed: fleet-locked") {
		t.Errorf("airgap fleet with a failed site: %v", err)
	}
	for _, want := range []string{"fleet-locked", "passphrase", "fleet-b", "never deployed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("airgap fleet output lacks %q", want)
		}
	}

	jsonCmd := exec.Command(airgap, "fleet", "--json", "--project", project, "--stacks-dir", project, "fleet-a", "fleet-b")
	jsonCmd.Env = s.pulumiEnv()
	out, err = jsonCmd.Output()
	if err != nil {
		t.Fatalf("airgap fleet --json: %v", err)
	}
	var parsed []fleet.Row
	if err := json.Unmarshal(out, &parsed); err != nil || len(parsed) != 2 || parsed[0].Site != "fleet-a" {
		t.Errorf("airgap fleet --json printed %s (%v)", out, err)
	}
}
