// Command nodeimages builds the pod images of the local site's real node, offline, and writes
// them into a bundle under their upstream names (package nodeimage):
//
//	go run ./tests/nodeimages --registry-binary ~/.cache/airgap-site/bin/registry --out .state/node-bundle
//
// The pause and app programs are built from ./pause and ./app unless --pause-binary and
// --app-binary name binaries already built; run it from inside the module. Images already in
// --out are kept, these three replaced. It prints each reference with its digest. `make setup`
// runs it into ~/.cache/airgap-site/node-bundle.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"

	"airgap-site/tests/nodeimages/nodeimage"
)

func main() {
	var registry, pause, app, out string
	flag.StringVar(&registry, "registry-binary", "", "the distribution registry binary (static, linux/amd64); required")
	flag.StringVar(&pause, "pause-binary", "", "the pause binary; default: build "+nodeimage.PausePackage)
	flag.StringVar(&app, "app-binary", "", "the factory app binary; default: build "+nodeimage.AppPackage)
	flag.StringVar(&out, "out", "", "the bundle directory to write; required")
	flag.Parse()
	if registry == "" || out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	log.SetFlags(0)
	log.SetPrefix("nodeimages: ")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, registry, pause, app, out); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, registry, pause, app, out string) error {
	tmp, err := os.MkdirTemp("", "nodeimages-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if pause, err = binary(ctx, pause, nodeimage.PausePackage, filepath.Join(tmp, "pause")); err != nil {
		return err
	}
	if app, err = binary(ctx, app, nodeimage.AppPackage, filepath.Join(tmp, "app")); err != nil {
		return err
	}
	for _, b := range []string{registry, pause, app} {
		if err := nodeimage.CheckStatic(b); err != nil {
			return err
		}
	}
	entries, err := nodeimage.WriteBundle(out, nodeimage.All(registry, pause, app))
	if err != nil {
		return err
	}
	for _, e := range entries {
		fmt.Printf("%s@%s\n", e.Reference, e.Digest)
	}
	return nil
}

// binary returns path when given, else builds pkg into out.
func binary(ctx context.Context, path, pkg, out string) (string, error) {
	if path != "" {
		return path, nil
	}
	log.Printf("building %s", pkg)
	return out, nodeimage.GoBuild(ctx, pkg, out)
}
