package nodeimage_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"airgap-site/tests/nodeimages/nodeimage"
)

// TestPauseBuildsStaticAndStops builds the real pause program: it must be a static
// linux/amd64 binary that exits 0 on SIGTERM, as the kubelet stops a pod sandbox. No
// container runtime: the binary runs on this machine.
func TestPauseBuildsStaticAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	bin := filepath.Join(t.TempDir(), "pause")
	if err := nodeimage.GoBuild(context.Background(), nodeimage.PausePackage, bin); err != nil {
		t.Fatal(err)
	}
	if err := nodeimage.CheckStatic(bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Still running after a moment: it blocks, it does not exit on its own.
	select {
	case err := <-done:
		t.Fatalf("pause exited by itself: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pause on SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("pause ignored SIGTERM")
	}
}

func TestCheckStaticRefusesOthers(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "fake")
	if err := os.WriteFile(fake, []byte("not an ELF file"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := nodeimage.CheckStatic(fake); err == nil {
		t.Error("CheckStatic accepted a non-ELF file")
	}
}
