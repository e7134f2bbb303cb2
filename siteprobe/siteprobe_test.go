package siteprobe

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

const kubeconfig = `apiVersion: v1
kind: Config
current-context: factory
contexts:
- {name: factory, context: {cluster: osaka, user: admin}}
- {name: other, context: {cluster: lab, user: admin}}
clusters:
- {name: osaka, cluster: {server: "https://10.20.0.11:6443"}}
- {name: lab, cluster: {server: "https://127.0.0.1:%d"}}
`

func TestAPIServer(t *testing.T) {
	if got, err := APIServer(kubeconfig, ""); err != nil || got != "https://10.20.0.11:6443" {
		t.Errorf("current context: %q %v", got, err)
	}
	if got, err := APIServer(kubeconfig, "other"); err != nil || !strings.HasPrefix(got, "https://127.0.0.1:") {
		t.Errorf("named context: %q %v", got, err)
	}
	if _, err := APIServer(kubeconfig, "missing"); err == nil {
		t.Errorf("missing context accepted")
	}
}

func TestReachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := Reachable(context.Background(), "https://"+addr, time.Second); err != nil {
		t.Errorf("listening server unreachable: %v", err)
	}
	l.Close()
	err = Reachable(context.Background(), "https://"+addr, time.Second)
	if err == nil {
		t.Fatalf("closed port reachable")
	}
	if msg := UnreachableWarning("https://"+addr, err); !strings.Contains(msg, "not reachable") || !strings.Contains(msg, "client-side") {
		t.Errorf("warning does not say what happened: %s", msg)
	}
}

// The warning is documented word for word (README, "Preview before the visit"): a first line
// naming the API server and the error (what the progress display shows), then the explanation
// wrapped under 100 columns.
func TestUnreachableWarningIsTheSignal(t *testing.T) {
	msg := UnreachableWarning("https://10.20.0.11:6443", errors.New("dial tcp 10.20.0.11:6443: connect: connection refused"))
	lines := strings.Split(msg, "\n")
	if lines[0] != "the site is not reachable (Kubernetes API https://10.20.0.11:6443: dial tcp 10.20.0.11:6443: connect: connection refused):" {
		t.Errorf("first line: %q", lines[0])
	}
	for _, want := range []string{
		"this preview is planned client-side from the state of the last `up` only.",
		"`pulumi preview --refresh` needs the site.\nRun `pulumi up` at the site.",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("warning lacks %q:\n%s", want, msg)
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines[1:] {
		if len(l) > 100 {
			t.Errorf("line longer than 100 columns: %q", l)
		}
		if !strings.Contains(string(readme), "\n"+l+"\n") {
			t.Errorf("README does not quote the line %q", l)
		}
	}
}
