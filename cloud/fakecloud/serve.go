package fakecloud

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a fake served on a TCP address.
type Server struct {
	URL string // http://host:port: the endpoint to point the SDK clients at
	srv *http.Server
}

// Close stops serving.
func (s *Server) Close() error { return s.srv.Close() }

// Serve serves h on addr ("127.0.0.1:0" picks a port) until the Server is
// closed; name says whose address failed.
func Serve(name string, h http.Handler, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Copy is a deep copy of a fake's state, through its JSON (a snapshot).
func Copy[T any](snapshot []byte, err error) T {
	var st T
	if err != nil {
		panic(err) // plain data always marshals
	}
	if err := json.Unmarshal(snapshot, &st); err != nil {
		panic(err)
	}
	return st
}

// TakeFault spends one firing of the first of faults that matches and
// returns it: a fault fires *times(f) times (a negative count: until
// cleared), and is gone once spent.
func TakeFault[F any](faults *[]F, times func(*F) *int, match func(F) bool) (F, bool) {
	for i := range *faults {
		ft := (*faults)[i]
		if !match(ft) {
			continue
		}
		if n := times(&(*faults)[i]); *n > 0 {
			*n--
			if *n == 0 {
				*faults = append((*faults)[:i:i], (*faults)[i+1:]...)
			}
		}
		return ft, true
	}
	var zero F
	return zero, false
}

// Run calls step with mu held every tick, and whenever wake fires (nil:
// never), until ctx ends: a fake's clock.
func Run(ctx context.Context, tick time.Duration, wake <-chan struct{}, mu *sync.Mutex, step func()) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		mu.Lock()
		step()
		mu.Unlock()
	}
}

// Sleep waits d, or less if ctx ends first; it reports whether ctx is
// still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
