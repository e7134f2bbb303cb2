package site

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"airgap-site/siteconfig"
)

// TestCommittedStacksLoad keeps stacks/*.yaml and the code telling the same story: every
// committed stack file must load and validate (secrets replaced by stand-ins of the right
// shape, since only the stack's passphrase decrypts them).
func TestCommittedStacksLoad(t *testing.T) {
	files, err := filepath.Glob("../../stacks/Pulumi.*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("stack files: %v %v", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src := stackSource(t, file)
			stack := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "Pulumi."), ".yaml")
			c, _, err := siteconfig.Load(src, stack)
			if err != nil {
				t.Fatalf("%s does not load: %v", file, err)
			}
			if len(c.Nodes) < 1 {
				t.Errorf("no nodes")
			}
		})
	}
}

// stackSource reads a stack file the way the engine hands config to the program: objects as
// JSON, strings as is, `secure:` values as secrets. Secrets the file leaves to
// `pulumi config set --secret` are filled with stand-ins.
func stackSource(t *testing.T, file string) siteconfig.MapSource {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Config map[string]any `json:"config"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	src := siteconfig.MapSource{Values: map[string]string{}, Secret: map[string]bool{}}
	for k, v := range doc.Config {
		key := strings.TrimPrefix(k, siteconfig.ConfigNamespace+":")
		if m, ok := v.(map[string]any); ok && m["secure"] != nil {
			src.Values[key], src.Secret[key] = "stand-in-secret-"+key, true // distinct: pull and push keys must differ
			continue
		}
		if s, ok := v.(string); ok {
			src.Values[key] = s
			continue
		}
		j, _ := json.Marshal(v)
		src.Values[key] = string(j)
	}
	for _, key := range []string{siteconfig.KeyS3AccessKey, siteconfig.KeyS3SecretKey, siteconfig.KeyMinioRootUser, siteconfig.KeyMinioRootPassword} {
		if _, ok := src.Values[key]; !ok {
			src.Values[key], src.Secret[key] = "stand-in-secret", true
		}
	}
	return src
}
