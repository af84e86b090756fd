package fakecloud

import (
	"io"
	"net/http"
	"testing"
)

type fault struct {
	Kind  string
	Times int
}

func TestTakeFault(t *testing.T) {
	faults := []fault{{"a", 1}, {"b", 2}, {"c", -1}}
	times := func(f *fault) *int { return &f.Times }
	kind := func(k string) func(fault) bool { return func(f fault) bool { return f.Kind == k } }
	for i, want := range []struct {
		kind string
		ok   bool
	}{{"a", true}, {"a", false}, {"b", true}, {"b", true}, {"b", false}, {"c", true}, {"c", true}} {
		if _, ok := TakeFault(&faults, times, kind(want.kind)); ok != want.ok {
			t.Fatalf("take %d (%s): fired %v, want %v; left %+v", i, want.kind, ok, want.ok, faults)
		}
	}
	if len(faults) != 1 || faults[0].Kind != "c" {
		t.Fatalf("left %+v: want only the fault that fires until cleared", faults)
	}
}

func TestServe(t *testing.T) {
	s, err := Serve("fake", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hi" {
		t.Fatalf("served %q", b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Serve("fake", http.NotFoundHandler(), "256.0.0.1:1"); err == nil || err.Error()[:5] != "fake:" {
		t.Fatalf("a bad address: %v", err)
	}
}
