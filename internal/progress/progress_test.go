package progress

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := New(&buf, 12, time.Hour) // ticks by hand below
	j := p.Start(3, "docker.io/library/nginx:1.27")
	j.Add(5_000_000)
	p.tick() // too early: no line
	j.start = j.start.Add(-2 * time.Hour)
	p.tick()
	p.tick() // nothing new: no line
	p.End(j, 45_200_000, nil)
	j2 := p.Start(4, "ghcr.io/org/app:1")
	p.End(j2, 0, fmt.Errorf("pulling ghcr.io/org/app:1: denied"))
	p.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		"[3/12] docker.io/library/nginx:1.27 ...",
		"[3/12] docker.io/library/nginx:1.27 ... 5.0 MB pulled",
		"[3/12] docker.io/library/nginx:1.27 ... 45.2 MB in ",
		"[4/12] ghcr.io/org/app:1 ...",
		"[4/12] FAILED after ",
	}
	if len(lines) != len(want) {
		t.Fatalf("lines:\n%s", buf.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
	if !strings.Contains(lines[4], "pulling ghcr.io/org/app:1: denied") {
		t.Errorf("failure line %q does not name the image", lines[4])
	}
	if p.Pulled() != 5_000_000 {
		t.Errorf("pulled = %d", p.Pulled())
	}
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 45_200_000: "45.2 MB", 1_500_000_000: "1.5 GB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{3100 * time.Millisecond: "3.1s", 125 * time.Second: "2m5s"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%s) = %q, want %q", d, got, want)
		}
	}
}
