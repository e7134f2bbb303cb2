package harness

import (
	"fmt"
	"io"
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

// TestOwnedDaemonsDieWithTheirOwner: a daemon started for an owned site (a test run) is killed
// by the kernel when the process that started it dies, however it dies (here: SIGKILL, which
// runs no cleanup at all).
func TestOwnedDaemonsDieWithTheirOwner(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	owner := exec.Command(os.Args[0])
	owner.Env = append(os.Environ(), "HARNESS_OWNER_DIR="+dir)
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = owner.Process.Kill(); _ = owner.Wait() }()
	pidFile := filepath.Join(dir, "run", "sleeper.pid")
	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, running, err := readPIDFile(pidFile)
		if err == nil && running {
			pid = p
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the owner did not start its daemon: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := owner.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = owner.Wait()
	deadline = time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			t.Fatalf("daemon %d outlived the process that owned it", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMain runs the owner's half of TestOwnedDaemonsDieWithTheirOwner when this binary is
// started as that owner: it starts a daemon for an owned site and waits to be killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("HARNESS_OWNER_DIR"); dir != "" {
		s := &Site{Dir: dir, owned: true, log: io.Discard}
		if _, err := s.start("sleeper", nil, "sleep", "60"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCPUSeconds: a daemon's CPU time, read from /proc: here the test process itself, named
// in a PID file, after burning about half a second of CPU.
func TestCPUSeconds(t *testing.T) {
	s := &Site{Dir: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(s.Dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writePIDFile(s.pidFile("self"), os.Getpid()); err != nil {
		t.Fatal(err)
	}
	before, err := s.CPUSeconds("self")
	if err != nil {
		t.Fatal(err)
	}
	var x uint64
	for start := time.Now(); time.Since(start) < 500*time.Millisecond; {
		for i := 0; i < 1e6; i++ {
			x += uint64(i) * x
		}
	}
	after, err := s.CPUSeconds("self")
	if err != nil {
		t.Fatal(err)
	}
	if used := after - before; used < 0.2 || used > 5 {
		t.Errorf("%.2f s of CPU for about 0.5 s of a busy loop (%d)", used, x)
	}
	if _, err := s.CPUSeconds("missing"); err == nil {
		t.Error("a daemon without a PID file has a CPU time")
	}
}
