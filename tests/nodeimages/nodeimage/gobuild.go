package nodeimage

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
)

// GoBuild builds the static linux/amd64 binary of pkg (an import path of this module) into
// out. Without cgo nor VCS stamps, and with -trimpath, the same sources and toolchain give
// the same bytes, hence the same image digests. It runs in the current directory, which must
// be inside the module.
func GoBuild(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s: %w", pkg, err)
	}
	return nil
}

// CheckStatic fails unless p is a statically linked linux/amd64 executable: anything else
// would only fail later, inside the node's containerd, with a cryptic exec error.
func CheckStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("checking %s: %w", p, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("checking %s: built for %s, the node is linux/amd64", p, f.Machine)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("checking %s: dynamically linked; build it with CGO_ENABLED=0", p)
		}
	}
	return nil
}
