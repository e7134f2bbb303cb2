package fleet

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

func TestCountEvents(t *testing.T) {
	row := Row{Reachable: true}
	pre := func(typ string, op apitype.OpType) events.EngineEvent {
		return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{
			Metadata: apitype.StepEventMetadata{Type: typ, Op: op}}}}
	}
	for _, e := range []events.EngineEvent{
		pre(ImageType, apitype.OpCreate),
		pre(ImageType, apitype.OpUpdate),
		pre(ImageType, apitype.OpSame),
		pre("kubernetes:apps/v1:Deployment", apitype.OpUpdate),
		{EngineEvent: apitype.EngineEvent{PolicyEvent: &apitype.PolicyEvent{EnforcementLevel: "mandatory"}}},
		{EngineEvent: apitype.EngineEvent{PolicyEvent: &apitype.PolicyEvent{EnforcementLevel: "advisory"}}},
		{EngineEvent: apitype.EngineEvent{DiagnosticEvent: &apitype.DiagnosticEvent{Message: "warning: the site is not reachable (Kubernetes API ...)"}}},
	} {
		count(&row, e)
	}
	if row.ImagesToTransfer != 2 || row.PolicyMandatory != 1 || row.PolicyAdvisory != 1 || row.Reachable {
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
