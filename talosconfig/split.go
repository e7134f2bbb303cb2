package talosconfig

import "strings"

// SplitDocuments splits a YAML stream at document separators: lines that are exactly "---" at
// column 0 (so "-----END CERTIFICATE-----" inside an indented block is not one). Empty
// documents are dropped.
func SplitDocuments(b []byte) [][]byte {
	var docs [][]byte
	var cur []string
	flush := func() {
		doc := strings.Join(cur, "\n")
		if strings.TrimSpace(doc) != "" {
			docs = append(docs, []byte(doc+"\n"))
		}
		cur = cur[:0]
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimRight(line, " \t\r") == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}
