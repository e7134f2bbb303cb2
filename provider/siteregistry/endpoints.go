package siteregistry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Backoff between rounds: the first wait is short (a connection blip), the longest is a
// fraction of a registry pod's restart and return to the Service (liveness 6 × 10 s at worst),
// so the first try after the pod is back comes soon.
const (
	DefaultInitial = time.Second
	DefaultMax     = 15 * time.Second
)

// Policy is how long an operation keeps trying.
type Policy struct {
	// For is how long to keep retrying after the first failure; 0 tries each endpoint once.
	For time.Duration
	// Initial is the wait after the first failed round; it doubles up to Max (0: defaults).
	Initial, Max time.Duration
}

// wait is the pause before round+1, with ±20% jitter so that many images retrying against one
// registry do not come back at the same instant.
func (p Policy) wait(round int) time.Duration {
	initial, maxWait := p.Initial, p.Max
	if initial <= 0 {
		initial = DefaultInitial
	}
	if maxWait <= 0 {
		maxWait = DefaultMax
	}
	d := initial
	for i := 1; i < round && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return d - d/5 + time.Duration(rand.Int64N(int64(d/5)*2+1))
}

// Health remembers, for every operation of the process, which endpoints failed recently:
// once a node is down, later operations start with the endpoints that work instead of
// waiting on the dead one again. A failed endpoint is tried last for Cooldown, or until it
// serves again.
type Health struct {
	Cooldown time.Duration

	mu     sync.Mutex
	failed map[string]time.Time
}

// NewHealth returns a memory with a 30 s cooldown.
func NewHealth() *Health {
	return &Health{Cooldown: 30 * time.Second, failed: map[string]time.Time{}}
}

// order returns the endpoints that did not fail recently, in their order, then the others.
func (h *Health) order(eps []string) []string {
	if h == nil {
		return eps
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var good, bad []string
	for _, ep := range eps {
		if t, ok := h.failed[ep]; ok && time.Since(t) < h.Cooldown {
			bad = append(bad, ep)
		} else {
			good = append(good, ep)
		}
	}
	return append(good, bad...)
}

func (h *Health) record(ep string, err error) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		delete(h.failed, ep)
	} else {
		h.failed[ep] = time.Now()
	}
}

// Endpoints are the addresses of one registry, in order of preference.
type Endpoints struct {
	Addrs  []string
	Policy Policy
	// Health, when set, is shared by the operations of the process.
	Health *Health
	// OnFailure, when set, is told of each retryable failure before the next try.
	OnFailure func(endpoint string, err error)
}

// Do runs op against the endpoints in order until one succeeds, and returns that endpoint.
// A retryable failure moves to the next endpoint at once; when every endpoint has failed, Do
// waits and tries them all again, until Policy.For has passed since the first failure or the
// next try would come after ctx's deadline. A failure that is not retryable, or ctx ending,
// stops at once. Every error names the endpoint it came from.
func (e Endpoints) Do(ctx context.Context, op func(ctx context.Context, endpoint string) error) (string, error) {
	if len(e.Addrs) == 0 {
		return "", errors.New("no registry endpoints")
	}
	var first time.Time
	for round := 1; ; round++ {
		var errs []error
		for _, ep := range e.Health.order(e.Addrs) {
			err := op(ctx, ep)
			if err == nil {
				e.Health.record(ep, nil)
				return ep, nil
			}
			if ctx.Err() != nil {
				return ep, stopped(ctx, &Error{Endpoint: ep, Err: err})
			}
			if !Retryable(err) {
				return ep, &Error{Endpoint: ep, Err: err}
			}
			e.Health.record(ep, err)
			if first.IsZero() {
				first = time.Now()
			}
			errs = append(errs, &Error{Endpoint: ep, Err: err})
			if e.OnFailure != nil {
				e.OnFailure(ep, err)
			}
		}
		left := e.Policy.For - time.Since(first)
		if left <= 0 {
			return "", gaveUp(errs, round, time.Since(first), "")
		}
		wait := min(e.Policy.wait(round), left)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return "", gaveUp(errs, round, time.Since(first), "; the operation's deadline comes before the next try")
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", stopped(ctx, errors.Join(errs...))
		case <-t.C:
		}
	}
}

// stopped says why ctx ended (Cancel, the customTimeouts deadline), with what was in flight.
func stopped(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if errors.Is(err, cause) {
		return err
	}
	return fmt.Errorf("%w: %w", cause, err)
}

func gaveUp(errs []error, rounds int, d time.Duration, why string) error {
	return fmt.Errorf("gave up after %d %s over %s%s: %w",
		rounds, plural(rounds, "round"), d.Round(100*time.Millisecond), why, errors.Join(errs...))
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}
