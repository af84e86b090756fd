package rollout

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nwroll/nwroll/rollout/notify"
)

// BenchmarkEmit is the cost of one notable event on the run's path: no
// receiver, a healthy webhook, and a webhook that never answers (its
// queue full, every event dropped). A receiver must cost the run next to
// nothing, whatever it does.
//
//	go test ./rollout -run '^$' -bench BenchmarkEmit -benchtime 20000x
func BenchmarkEmit(b *testing.B) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer ok.Close()
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer stuck.Close()
	defer close(release)
	ev := LogEntry{TS: time.Now(), Node: "fw-b", Type: "event", Op: "step-started", Step: "upgrade/fw-b", Detail: "Upgrade fw-b (follower): 1.0.0 → 1.1.0"}
	for _, c := range []struct {
		name string
		urls []string
	}{{"none", nil}, {"healthy", []string{ok.URL}}, {"stuck", []string{stuck.URL}}} {
		b.Run(c.name, func(b *testing.B) {
			n, err := notify.New(notify.Config{URLs: c.urls, Timeout: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			var sink Notifier
			if n != nil {
				sink = n
			}
			s := NewEventStream(io.Discard, true, sink)
			b.ResetTimer()
			for b.Loop() {
				s.Emit(ev)
			}
			b.StopTimer()
			for _, st := range n.Stats() { // one receiver, or none
				b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
			}
		})
	}
}
