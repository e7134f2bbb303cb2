package toxiproxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The API client sends what toxiproxy's API takes, and an error answer names the request.
func TestAPIRequests(t *testing.T) {
	var got []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		b, _ := json.Marshal(body)
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		if strings.HasSuffix(r.URL.Path, "/missing") {
			http.Error(w, "proxy not found", http.StatusNotFound)
		}
	}))
	defer api.Close()
	s := &Server{API: api.URL}
	if err := s.SetEnabled("lte", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Toxic("lte", map[string]any{"name": "cut", "type": "limit_data"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("/proxies/lte/toxics/cut"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`POST /proxies/lte {"enabled":false}`,
		`POST /proxies/lte/toxics {"name":"cut","type":"limit_data"}`,
		`DELETE /proxies/lte/toxics/cut null`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	err := s.Delete("/proxies/missing")
	if err == nil || !strings.Contains(err.Error(), "DELETE /proxies/missing: 404") || !strings.Contains(err.Error(), "proxy not found") {
		t.Errorf("error answer: %v, want it to name the request, the status and the answer", err)
	}
}

// Start fails naming the directory when the binary is not there.
func TestStartWithoutBinary(t *testing.T) {
	dir := t.TempDir()
	_, err := Start(dir, dir+"/log", nil)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "make setup") {
		t.Fatalf("Start without the binary: %v", err)
	}
}
