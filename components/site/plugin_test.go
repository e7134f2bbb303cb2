package site

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A config that needs a plugin (talos.manage: pulumi-talos; a tenant's adminEndpoint:
// pulumi-minio) fails at once when it is missing, naming it and how to install it offline;
// half-installed it is still missing; installed in the plugin home or on $PATH it passes; one
// plugin is no stand-in for the other.
func TestCheckPlugins(t *testing.T) {
	notOnPath := func(string) (string, error) { return "", errors.New("not found") }
	for _, tc := range []struct {
		kind, version string
		check, other  func(func(string) string, func(string) (string, error)) error
		want          []string
	}{
		{"talos", "0.8.1", CheckTalosPlugin, CheckMinioPlugin,
			[]string{"talos.manage", "pulumi-talos plugin v0.8.1", "pulumi plugin install resource talos v0.8.1", "--file", "talos.manage: false"}},
		{"minio", "0.17.1", CheckMinioPlugin, CheckTalosPlugin,
			[]string{"objectStore.tenant.adminEndpoint", "pulumi-minio plugin v0.17.1", "pulumi plugin install resource minio v0.17.1", "--file", "remove adminEndpoint"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			home := t.TempDir()
			env := func(k string) string {
				if k == "PULUMI_HOME" {
					return home
				}
				return ""
			}
			err := tc.check(env, notOnPath)
			if err == nil {
				t.Fatal("missing plugin accepted")
			}
			for _, want := range append(tc.want, home) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q: %v", want, err)
				}
			}
			binary := "pulumi-resource-" + tc.kind
			dir := filepath.Join(home, "plugins", "resource-"+tc.kind+"-v"+tc.version)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, binary), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir+".partial", nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.check(env, notOnPath) == nil {
				t.Errorf("a half-installed plugin (.partial) accepted")
			}
			if err := os.Remove(dir + ".partial"); err != nil {
				t.Fatal(err)
			}
			if err := tc.check(env, notOnPath); err != nil {
				t.Errorf("installed plugin refused: %v", err)
			}
			if tc.other(env, notOnPath) == nil {
				t.Errorf("pulumi-%s satisfied the other plugin's check", tc.kind)
			}
			onPath := func(name string) (string, error) {
				if name == binary {
					return "/usr/local/bin/" + name, nil
				}
				return "", errors.New("not found")
			}
			if err := tc.check(func(string) string { return t.TempDir() }, onPath); err != nil {
				t.Errorf("plugin on PATH refused: %v", err)
			}
		})
	}
}
