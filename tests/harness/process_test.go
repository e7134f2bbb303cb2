package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// sleeper starts a process that would run for a minute, in its own process group, and
// returns it with a cleanup that kills it.
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	return cmd
}

// TestStalePIDIsNeverSignalled: a PID file whose start time does not match the running
// process (a reused PID), or that has no start time, is removed without a signal; a current
// one stops its process.
func TestStalePIDIsNeverSignalled(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := sleeper(t)
	pid := cmd.Process.Pid
	start, err := startTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run", "sleeper.pid")
	for name, content := range map[string]string{
		"other start time": fmt.Sprintf("%d %d\n", pid, start+1),
		"pid only":         strconv.Itoa(pid),
		"garbage":          "not a pid",
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		stopped, err := stopByPIDFile(dir, "sleeper", time.Second)
		if stopped || err != nil {
			t.Errorf("%s: stopByPIDFile = %v, %v; want a stale file left alone", name, stopped, err)
		}
		if !alive(pid) {
			t.Fatalf("%s: the process was signalled", name)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s: stale PID file not removed", name)
		}
	}
	if err := writePIDFile(path, pid); err != nil {
		t.Fatal(err)
	}
	stopped, err := stopByPIDFile(dir, "sleeper", 5*time.Second)
	if !stopped || err != nil {
		t.Fatalf("stopByPIDFile = %v, %v; want the process stopped", stopped, err)
	}
	if alive(pid) {
		t.Errorf("process %d still runs", pid)
	}
}
