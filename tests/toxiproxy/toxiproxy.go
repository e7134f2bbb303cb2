package toxiproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Server is a running toxiproxy-server; Stop ends it.
type Server struct {
	// API is the base URL of its HTTP API (http://127.0.0.1:port).
	API string
	cmd *exec.Cmd
	log *os.File
}

// Start runs toxiproxy-server from binDir on a free loopback port with env, writing its log to
// logPath, and waits until its API answers. The process dies with the caller's thread
// (Pdeathsig), and Stop ends it on every other way out.
func Start(binDir, logPath string, env []string) (*Server, error) {
	bin := filepath.Join(binDir, "toxiproxy-server")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("toxiproxy-server missing in %s (run `make setup` first): %w", binDir, err)
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-host", host, "-port", port)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting toxiproxy-server: %w", err)
	}
	s := &Server{API: "http://" + addr, cmd: cmd, log: logFile}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(s.API + "/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("toxiproxy-server not ready on %s: %v\n%s", s.API, err, b)
		}
	}
}

// Stop ends the server; it may be called more than once.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.log.Close()
	s.cmd = nil
}

// Proxy opens a proxy named name to upstream on a free loopback port and returns its address.
func (s *Server) Proxy(name, upstream string) (string, error) {
	listen, err := FreeAddr()
	if err != nil {
		return "", err
	}
	err = s.call(http.MethodPost, "/proxies", map[string]any{"name": name, "listen": listen, "upstream": upstream, "enabled": true})
	return listen, err
}

// Toxic adds a toxic (name, type, stream, toxicity, attributes) to a proxy.
func (s *Server) Toxic(proxy string, toxic map[string]any) error {
	return s.call(http.MethodPost, "/proxies/"+proxy+"/toxics", toxic)
}

// SetEnabled switches a proxy off (it closes every connection through it and refuses new
// ones) or on again, on the same address.
func (s *Server) SetEnabled(proxy string, enabled bool) error {
	return s.call(http.MethodPost, "/proxies/"+proxy, map[string]any{"enabled": enabled})
}

// Delete deletes a toxic or a proxy by its API path (/proxies/NAME/toxics/TOXIC).
func (s *Server) Delete(path string) error { return s.call(http.MethodDelete, path, nil) }

func (s *Server) call(method, path string, body any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.API+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("toxiproxy %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		out, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("toxiproxy %s %s: %s: %s", method, path, resp.Status, out)
	}
	return nil
}

// FreeAddr is a loopback address with a port free at the time of the call.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
