package site

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// talos.manage without the plugin fails at once, naming it and how to install it offline;
// installed in the plugin home or on $PATH, it passes.
func TestCheckTalosPlugin(t *testing.T) {
	home := t.TempDir()
	env := func(k string) string {
		if k == "PULUMI_HOME" {
			return home
		}
		return ""
	}
	notOnPath := func(string) (string, error) { return "", errors.New("not found") }
	err := CheckTalosPlugin(env, notOnPath)
	if err == nil {
		t.Fatal("missing plugin accepted")
	}
	for _, want := range []string{"talos.manage", "pulumi-talos plugin v0.8.1", "pulumi plugin install resource talos v0.8.1", "--file", home} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	dir := filepath.Join(home, "plugins", "resource-talos-v0.8.1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pulumi-resource-talos"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+".partial", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if CheckTalosPlugin(env, notOnPath) == nil {
		t.Errorf("a half-installed plugin (.partial) accepted")
	}
	if err := os.Remove(dir + ".partial"); err != nil {
		t.Fatal(err)
	}
	if err := CheckTalosPlugin(env, notOnPath); err != nil {
		t.Errorf("installed plugin refused: %v", err)
	}
	onPath := func(string) (string, error) { return "/usr/local/bin/pulumi-resource-talos", nil }
	if err := CheckTalosPlugin(func(string) string { return t.TempDir() }, onPath); err != nil {
		t.Errorf("plugin on PATH refused: %v", err)
	}
}
