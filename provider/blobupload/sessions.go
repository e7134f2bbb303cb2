package blobupload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Sessions is a directory of upload sessions in flight, one JSON file (0600) per blob and
// repository, so that the next process resumes an upload a failed one left. A nil *Sessions
// keeps sessions in memory only.
type Sessions struct {
	dir string

	mu   sync.Mutex
	busy map[string]chan struct{}
}

// NewSessions keeps sessions in dir, which is made (0700) on the first save.
func NewSessions(dir string) *Sessions {
	return &Sessions{dir: dir, busy: map[string]chan struct{}{}}
}

// Session is one upload in flight: where it is and what it is. It holds no credential.
type Session struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	Size       int64  `json:"size"`
	// Location is the upload URL of the registry's last answer.
	Location string `json:"location"`
	// Offset is what the registry held at that answer.
	Offset  int64     `json:"offset"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
}

func (s Session) key() string { return sessionKey(s.Registry, s.Repository, s.Digest) }

func sessionKey(registry, repository, digest string) string {
	h := sha256.Sum256([]byte(strings.ToLower(registry) + "/" + repository + "@" + digest))
	return hex.EncodeToString(h[:16])
}

func (s *Sessions) path(key string) string { return filepath.Join(s.dir, key+".json") }

// List returns the sessions in the directory (none when it does not exist).
func (s *Sessions) List() ([]Session, error) {
	if s == nil {
		return nil, nil
	}
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading upload sessions: %w", err)
	}
	var out []Session
	for _, e := range entries {
		key, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		if ss, ok, err := s.load(key); err != nil {
			return nil, err
		} else if ok {
			out = append(out, ss)
		}
	}
	return out, nil
}

// load reads the session of key; a file that does not parse is no session.
func (s *Sessions) load(key string) (Session, bool, error) {
	if s == nil {
		return Session{}, false, nil
	}
	b, err := os.ReadFile(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("reading upload session: %w", err)
	}
	var ss Session
	if json.Unmarshal(b, &ss) != nil || ss.key() != key {
		return Session{}, false, nil
	}
	return ss, true, nil
}

// save writes ss atomically (a temporary file renamed over the old one).
func (s *Sessions) save(ss Session) error {
	if s == nil {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("saving upload session: %w", err)
	}
	b, err := json.MarshalIndent(ss, "", "  ")
	if err != nil {
		return fmt.Errorf("saving upload session: %w", err)
	}
	f, err := os.CreateTemp(s.dir, ".session-*") // 0600
	if err != nil {
		return fmt.Errorf("saving upload session: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), s.path(ss.key()))
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("saving upload session: %w", werr)
	}
	return nil
}

func (s *Sessions) remove(key string) error {
	if s == nil {
		return nil
	}
	if err := os.Remove(s.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing upload session: %w", err)
	}
	return nil
}

// lock makes uploads of one key in this process take turns: one writer per upload session.
func (s *Sessions) lock(ctx context.Context, key string) (unlock func(), err error) {
	if s == nil {
		return func() {}, nil
	}
	for {
		s.mu.Lock()
		if s.busy == nil {
			s.busy = map[string]chan struct{}{}
		}
		ch, held := s.busy[key]
		if !held {
			ch = make(chan struct{})
			s.busy[key] = ch
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.busy, key)
				s.mu.Unlock()
				close(ch)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}
