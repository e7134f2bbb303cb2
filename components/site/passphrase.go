package site

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The dev stack's passphrase: it guards the test bed's credentials only, and everyone who has
// read the repository knows it.
const (
	DevPassphrase = "airgap-dev"
	DevStack      = "dev"
	// EnvTestBed, set to 1, lets the dev passphrase unlock stacks other than dev: the e2e
	// suite's stacks are copies of the dev stack on the local test bed. Never set it for a
	// site.
	EnvTestBed = "AIRGAP_TEST_BED"
)

// CheckPassphrase refuses the dev passphrase for any stack but dev: a site's CA key and
// passwords would be encrypted in its state with a passphrase everyone knows. It reads the
// passphrase as the pulumi CLI does (PULUMI_CONFIG_PASSPHRASE, else the file named by
// PULUMI_CONFIG_PASSPHRASE_FILE, trimmed); a passphrase typed at a prompt is not visible
// here. The program and `airgap site` call it before anything else, so no wrapper or shell
// can be bypassed: the Go program runs as a child of the language host with the CLI's
// environment, and `airgap site` runs the program in its own process.
func CheckPassphrase(stack string, lookupEnv func(string) (string, bool)) error {
	if stack == DevStack {
		return nil
	}
	if v, _ := lookupEnv(EnvTestBed); v == "1" {
		return nil
	}
	phrase, from := "", ""
	if v, ok := lookupEnv("PULUMI_CONFIG_PASSPHRASE"); ok {
		phrase, from = v, "PULUMI_CONFIG_PASSPHRASE"
	} else if file, ok := lookupEnv("PULUMI_CONFIG_PASSPHRASE_FILE"); ok && file != "" {
		path, err := filepath.Abs(file)
		if err != nil {
			return fmt.Errorf("PULUMI_CONFIG_PASSPHRASE_FILE %q: %w", file, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading PULUMI_CONFIG_PASSPHRASE_FILE %q: %w", file, err)
		}
		phrase, from = strings.TrimSpace(string(b)), "PULUMI_CONFIG_PASSPHRASE_FILE ("+file+")"
	}
	if phrase != DevPassphrase {
		return nil
	}
	return fmt.Errorf("refusing the dev passphrase for stack %s: %s is %q, which guards the test bed's dev stack only and is public; "+
		"this stack's CA key and passwords would be encrypted with it. Set PULUMI_CONFIG_PASSPHRASE to that site's own passphrase "+
		"(nothing was touched)", stack, from, DevPassphrase)
}
