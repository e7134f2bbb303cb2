package site

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A tenant whose users the stack declares (adminEndpoint) without pulumi-minio installed fails
// at once, naming it and how to install it offline; installed in the plugin home or on $PATH,
// it passes.
func TestCheckMinioPlugin(t *testing.T) {
	home := t.TempDir()
	env := func(k string) string {
		if k == "PULUMI_HOME" {
			return home
		}
		return ""
	}
	notOnPath := func(string) (string, error) { return "", errors.New("not found") }
	err := CheckMinioPlugin(env, notOnPath)
	if err == nil {
		t.Fatal("missing plugin accepted")
	}
	for _, want := range []string{"objectStore.tenant.adminEndpoint", "pulumi-minio plugin v0.17.1", "pulumi plugin install resource minio v0.17.1", "--file", home} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	onPath := func(name string) (string, error) {
		if name == "pulumi-resource-minio" {
			return "/usr/local/bin/" + name, nil
		}
		return "", errors.New("not found")
	}
	if err := CheckMinioPlugin(env, onPath); err != nil {
		t.Errorf("on $PATH: %v", err)
	}
	dir := filepath.Join(home, "plugins", "resource-minio-v0.17.1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pulumi-resource-minio"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckMinioPlugin(env, notOnPath); err != nil {
		t.Errorf("installed: %v", err)
	}
	// The talos plugin is no stand-in for it.
	if err := CheckTalosPlugin(env, notOnPath); err == nil {
		t.Error("the minio plugin satisfied the talos check")
	}
}
