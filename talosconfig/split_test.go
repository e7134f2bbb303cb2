package talosconfig

import (
	"strings"
	"testing"
)

func TestSplitDocuments(t *testing.T) {
	in := "a: 1\n---\nca: |\n  -----BEGIN CERTIFICATE-----\n  MIIB\n  -----END CERTIFICATE-----\n---  \n\n---\nb: 2"
	docs := SplitDocuments([]byte(in))
	if len(docs) != 3 || !strings.Contains(string(docs[1]), "END CERTIFICATE") || string(docs[2]) != "b: 2\n" {
		t.Errorf("split into %d documents: %q", len(docs), docs)
	}
}
