package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// patience bounds every wait in these tests; nothing here asserts an upper
// bound on how long work takes.
const patience = 20 * time.Second

func ev(i int) string { return fmt.Sprintf(`{"type":"step","n":%d}`, i) }

// logs collects Logf lines.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logs) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// count is how many lines contain every one of subs.
func (l *logs) count(subs ...string) int {
	k := 0
	for _, line := range l.all() {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			k++
		}
	}
	return k
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", patience, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hook is a real webhook receiver on loopback. reply decides the status of
// the i-th request (from 0); it may block.
type hook struct {
	srv   *httptest.Server
	reply func(i int, w http.ResponseWriter, r *http.Request) int

	mu       sync.Mutex
	reqs     []request
	entered  chan struct{} // one value per request as it arrives (buffered)
	canceled int           // requests whose context ended before the reply
}

type request struct {
	body, ctype, ua string
	status          int
	at              time.Time
}

func newHook(t *testing.T, reply func(i int, w http.ResponseWriter, r *http.Request) int) *hook {
	t.Helper()
	h := &hook{reply: reply, entered: make(chan struct{}, 100000)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		i := len(h.reqs)
		h.reqs = append(h.reqs, request{body: string(body), ctype: r.Header.Get("Content-Type"), ua: r.Header.Get("User-Agent"), at: time.Now()})
		h.mu.Unlock()
		h.entered <- struct{}{}
		status := h.reply(i, w, r)
		if r.Context().Err() != nil {
			h.mu.Lock()
			h.canceled++
			h.mu.Unlock()
		}
		h.mu.Lock()
		h.reqs[i].status = status
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func ok(int, http.ResponseWriter, *http.Request) int { return http.StatusOK }

func (h *hook) url(path string) string { return h.srv.URL + path }

func (h *hook) requests() []request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]request(nil), h.reqs...)
}

func (h *hook) attempts() int { return len(h.requests()) }

// delivered is the bodies answered 2xx, in arrival order.
func (h *hook) delivered() []string {
	var out []string
	for _, r := range h.requests() {
		if r.status >= 200 && r.status < 300 {
			out = append(out, r.body)
		}
	}
	return out
}

func mustNew(t *testing.T, c Config) *Notifier {
	t.Helper()
	n, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if n == nil {
		t.Fatal("New returned nil for a config with receivers")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n
}

func closeWithin(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func stat(t *testing.T, n *Notifier, name string) Stat {
	t.Helper()
	s, found := n.Stats()[name]
	if !found {
		t.Fatalf("Stats has no %q; has %v", name, n.Stats())
	}
	return s
}

// 1. In order, to two webhooks, bodies and headers as sent.
func TestDeliversInOrderToTwoURLs(t *testing.T) {
	a, b := newHook(t, ok), newHook(t, ok)
	var l logs
	n := mustNew(t, Config{URLs: []string{a.url("/a/secret"), b.url("")}, Logf: l.logf})
	const count = 50
	for i := range count {
		n.Send([]byte(ev(i)))
	}
	closeWithin(t, n)

	for _, h := range []*hook{a, b} {
		reqs := h.requests()
		if len(reqs) != count {
			t.Fatalf("%s got %d requests, want %d", h.srv.URL, len(reqs), count)
		}
		for i, r := range reqs {
			if r.body != ev(i) {
				t.Errorf("%s request %d body %q, want %q", h.srv.URL, i, r.body, ev(i))
			}
			if r.ctype != "application/json" {
				t.Errorf("Content-Type %q, want application/json", r.ctype)
			}
			if r.ua != "nwroll" {
				t.Errorf("User-Agent %q, want nwroll", r.ua)
			}
		}
	}
	want := map[string]Stat{
		a.srv.URL + "/…": {Delivered: count, Attempts: count},
		b.srv.URL:        {Delivered: count, Attempts: count},
	}
	if got := n.Stats(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Stats = %v, want %v", got, want)
	}
	if lines := l.all(); len(lines) != 0 {
		t.Errorf("unexpected log lines: %q", lines)
	}
}

func TestUserAgentAndCallerBufferReuse(t *testing.T) {
	h := newHook(t, ok)
	n := mustNew(t, Config{URLs: []string{h.url("/x")}, UserAgent: "nwroll/1.2.3"})
	buf := []byte(ev(1))
	n.Send(buf)
	copy(buf, strings.Repeat("X", len(buf))) // the caller reuses its buffer at once
	closeWithin(t, n)
	reqs := h.requests()
	if len(reqs) != 1 || reqs[0].body != ev(1) || reqs[0].ua != "nwroll/1.2.3" {
		t.Fatalf("requests = %+v, want one with body %q and User-Agent nwroll/1.2.3", reqs, ev(1))
	}
}

// 2. Retries.
func TestRetries503ThenOKHonoursRetryAfter(t *testing.T) {
	h := newHook(t, func(i int, w http.ResponseWriter, r *http.Request) int {
		if i == 0 {
			w.Header().Set("Retry-After", "1")
		}
		if i < 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	var l logs
	n := mustNew(t, Config{URLs: []string{h.url("/hook")}, Backoff: 10 * time.Millisecond, Logf: l.logf})
	n.Send([]byte(ev(7)))
	closeWithin(t, n)

	reqs := h.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d attempts, want 3", len(reqs))
	}
	if got := h.delivered(); len(got) != 1 || got[0] != ev(7) {
		t.Fatalf("delivered %q, want [%q]", got, ev(7))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Errorf("second attempt %s after the first; Retry-After: 1 asks for at least 1s", gap)
	}
	if s := stat(t, n, h.url("/…")); s != (Stat{Delivered: 1, Attempts: 3}) {
		t.Errorf("Stats = %+v", s)
	}
	if lines := l.all(); len(lines) != 0 {
		t.Errorf("a delivered event logged %q", lines)
	}
}

func TestRetries429(t *testing.T) {
	h := newHook(t, func(i int, w http.ResponseWriter, r *http.Request) int {
		if i == 0 {
			return http.StatusTooManyRequests
		}
		return http.StatusNoContent
	})
	n := mustNew(t, Config{URLs: []string{h.url("/")}, Backoff: time.Millisecond})
	n.Send([]byte(ev(1)))
	closeWithin(t, n)
	if h.attempts() != 2 || len(h.delivered()) != 1 {
		t.Fatalf("attempts %d delivered %d, want 2 and 1", h.attempts(), len(h.delivered()))
	}
}

func TestNoRetryOn400(t *testing.T) {
	h := newHook(t, func(int, http.ResponseWriter, *http.Request) int { return http.StatusBadRequest })
	var l logs
	n := mustNew(t, Config{URLs: []string{h.url("/hook")}, Backoff: time.Millisecond, Logf: l.logf})
	n.Send([]byte(ev(1)))
	closeWithin(t, n)
	if got := h.attempts(); got != 1 {
		t.Fatalf("%d attempts at a 400, want 1", got)
	}
	if k := l.count(h.url("/…"), "HTTP 400 Bad Request", "not retried"); k != 1 {
		t.Errorf("want one log line naming the receiver and the 400; got %q", l.all())
	}
	if s := stat(t, n, h.url("/…")); s != (Stat{Failed: 1, Attempts: 1}) {
		t.Errorf("Stats = %+v", s)
	}
}

func TestAlwaysFailingIsLoggedOnceThenNextEventDelivered(t *testing.T) {
	var mu sync.Mutex
	failing := true
	h := newHook(t, func(int, http.ResponseWriter, *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	var l logs
	const retries = 2
	n := mustNew(t, Config{URLs: []string{h.url("/hook")}, Retries: retries, Backoff: 5 * time.Millisecond, Logf: l.logf})
	name := h.url("/…")

	n.Send([]byte(ev(1)))
	waitFor(t, "the failure to be logged", func() bool { return l.count(name, "not delivered") > 0 })
	if got := h.attempts(); got != retries+1 {
		t.Fatalf("%d attempts, want Retries+1 = %d", got, retries+1)
	}
	if k := l.count(name, "after 3 attempt(s)", "HTTP 500 Internal Server Error"); k != 1 {
		t.Errorf("want one line for the lost event; got %q", l.all())
	}

	mu.Lock()
	failing = false
	mu.Unlock()
	n.Send([]byte(ev(2)))
	closeWithin(t, n)
	if got := h.delivered(); len(got) != 1 || got[0] != ev(2) {
		t.Fatalf("delivered %q, want the next event [%q]", got, ev(2))
	}
	if got := h.attempts(); got != retries+2 {
		t.Errorf("%d attempts in all, want %d", got, retries+2)
	}
	if k := len(l.all()); k != 1 {
		t.Errorf("%d log lines, want only the one for the lost event: %q", k, l.all())
	}
	if s := stat(t, n, name); s != (Stat{Delivered: 1, Failed: 1, Attempts: retries + 2}) {
		t.Errorf("Stats = %+v", s)
	}
}

func TestNetworkErrorIsRetried(t *testing.T) {
	addr := closedPort(t)
	var l logs
	n := mustNew(t, Config{URLs: []string{"http://" + addr + "/hook"}, Retries: 1, Backoff: time.Millisecond, Logf: l.logf})
	n.Send([]byte(ev(1)))
	closeWithin(t, n)
	if s := stat(t, n, "http://"+addr+"/…"); s != (Stat{Failed: 1, Attempts: 2}) {
		t.Errorf("Stats = %+v, want 2 attempts and 1 failure", s)
	}
	if k := l.count("http://"+addr+"/…", "after 2 attempt(s)", "refused"); k != 1 {
		t.Errorf("log = %q", l.all())
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// 3. Send never blocks.
func blockingHook(t *testing.T) (*hook, func()) {
	release := make(chan struct{})
	var once sync.Once
	h := newHook(t, func(i int, w http.ResponseWriter, r *http.Request) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the server's Close, which waits for handlers
	return h, free
}

// sendAll runs send in a goroutine and fails the test if it does not
// return; unstick then frees the slow receiver so the test can end.
func sendAll(t *testing.T, what string, send, unstick func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); send() }()
	select {
	case <-done:
	case <-time.After(patience):
		unstick()
		t.Fatalf("%s did not return within %s: Send blocked", what, patience)
	}
}

func TestSendNeverBlocks(t *testing.T) {
	stuck, release := blockingHook(t)
	healthy := newHook(t, ok)
	var l logs
	const queue, count = 100, 1000
	n := mustNew(t, Config{
		URLs:      []string{stuck.url("/stuck"), healthy.url("/healthy")},
		QueueSize: queue, Timeout: time.Hour, Logf: l.logf,
	})
	stuckName, healthyName := stuck.url("/…"), healthy.url("/…")

	n.Send([]byte(ev(0)))
	select {
	case <-stuck.entered: // event 0 is in flight, the queue is empty
	case <-time.After(patience):
		t.Fatal("the stuck receiver never got event 0")
	}
	sendAll(t, "1000 Sends", func() {
		for i := 1; i <= count; i++ {
			n.Send([]byte(ev(i)))
		}
	}, release)

	if s := stat(t, n, stuckName); s.Dropped != count-queue {
		t.Errorf("stuck receiver dropped %d, want %d (queue %d full)", s.Dropped, count-queue, queue)
	}
	if k := l.count(stuckName+":", "queue full"); k != 1 {
		t.Errorf("want one overflow line for the stuck receiver, got %q", l.all())
	}
	waitFor(t, "the healthy receiver to work through its queue", func() bool {
		s := stat(t, n, healthyName)
		return s.Delivered+s.Dropped == count+1
	})
	got := healthy.delivered()
	if len(got) < queue+1 {
		t.Errorf("healthy receiver got %d events, want at least %d", len(got), queue+1)
	}
	last := -1
	for _, b := range got {
		var i int
		if _, err := fmt.Sscanf(b, `{"type":"step","n":%d}`, &i); err != nil || i <= last {
			t.Fatalf("healthy receiver got %q after n=%d: out of order", b, last)
		}
		last = i
	}

	release()
	closeWithin(t, n)
	s := stat(t, n, stuckName)
	if s.Delivered != queue+1 || s.Dropped != count-queue {
		t.Errorf("stuck receiver Stats = %+v, want Delivered %d Dropped %d", s, queue+1, count-queue)
	}
	if k := l.count(stuckName+":", strconv.Itoa(count-queue)+" event(s) were dropped"); k != 1 {
		t.Errorf("Close should report the %d drops; log = %q", count-queue, l.all())
	}
	for _, line := range l.all() {
		if strings.Contains(line, `"n":`) {
			t.Errorf("log line carries an event body: %q", line)
		}
	}
}

func TestSlowReceiverDoesNotDelayOthers(t *testing.T) {
	stuck, release := blockingHook(t)
	healthy := newHook(t, ok)
	var l logs
	const queue, count, batch = 50, 1000, 50
	n := mustNew(t, Config{
		URLs:      []string{stuck.url("/stuck"), healthy.url("/ok")},
		QueueSize: queue, Timeout: time.Hour, Logf: l.logf,
	})
	stuckName, healthyName := stuck.url("/…"), healthy.url("/…")

	n.Send([]byte(ev(0)))
	<-stuck.entered
	sent := 1
	sendAll(t, "Sends in batches", func() {
		for sent < count {
			for k := 0; k < batch && sent < count; k++ {
				n.Send([]byte(ev(sent)))
				sent++
			}
			// The healthy receiver keeps up while the other is stuck.
			deadline := time.Now().Add(patience)
			for n.Stats()[healthyName].Delivered < sent && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
	}, release)
	got := healthy.delivered()
	if len(got) != count {
		t.Fatalf("healthy receiver got %d events while the other was stuck, want %d", len(got), count)
	}
	for i, b := range got {
		if b != ev(i) {
			t.Fatalf("healthy event %d = %q, want %q", i, b, ev(i))
		}
	}
	if s := stat(t, n, healthyName); s.Dropped != 0 {
		t.Errorf("healthy receiver dropped %d", s.Dropped)
	}
	if s := stat(t, n, stuckName); s.Dropped != count-1-queue {
		t.Errorf("stuck receiver dropped %d, want %d", s.Dropped, count-1-queue)
	}

	// It recovers: the next event is queued and the episode is reported.
	release()
	waitFor(t, "the stuck receiver to drain", func() bool { return stat(t, n, stuckName).Delivered == queue+1 })
	n.Send([]byte(ev(count)))
	if k := l.count(stuckName+":", "room again", strconv.Itoa(count-1-queue)+" event(s) were dropped"); k != 1 {
		t.Errorf("want one recovery line with the drop count; log = %q", l.all())
	}
	closeWithin(t, n)
	if got := stuck.delivered(); len(got) != queue+2 || got[len(got)-1] != ev(count) {
		t.Errorf("stuck receiver got %d events, last %q", len(got), got[len(got)-1])
	}
	if k := l.count("dropped"); k != 1 {
		t.Errorf("drops reported more than once: %q", l.all())
	}
}

// 4. Timeout.
func TestTimeoutIsAFailedAttemptAndRetried(t *testing.T) {
	h := newHook(t, func(i int, w http.ResponseWriter, r *http.Request) int {
		if i == 0 {
			select { // far longer than Timeout
			case <-r.Context().Done():
				return http.StatusGatewayTimeout // nobody reads it: the client gave up
			case <-time.After(patience):
			}
			return http.StatusOK
		}
		return http.StatusOK
	})
	n := mustNew(t, Config{URLs: []string{h.url("/slow")}, Timeout: 300 * time.Millisecond, Retries: 5, Backoff: time.Millisecond})
	n.Send([]byte(ev(1)))
	closeWithin(t, n)
	reqs := h.requests()
	if len(reqs) < 2 {
		t.Fatalf("%d attempts, want the timed-out one and a retry", len(reqs))
	}
	h.mu.Lock()
	canceled := h.canceled
	h.mu.Unlock()
	if canceled < 1 {
		t.Errorf("the slow attempt was not canceled by the client")
	}
	if got := h.delivered(); len(got) != 1 || got[0] != ev(1) {
		t.Errorf("delivered %q", got)
	}
	s := stat(t, n, h.url("/…"))
	if s.Delivered != 1 || s.Attempts != len(reqs) || s.Failed != 0 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestTimeoutLogged(t *testing.T) {
	h, release := blockingHook(t)
	defer release()
	var l logs
	n := mustNew(t, Config{URLs: []string{h.url("/slow")}, Timeout: 100 * time.Millisecond, Retries: -1, Logf: l.logf})
	n.Send([]byte(ev(1)))
	closeWithin(t, n)
	if k := l.count(h.url("/…"), "after 1 attempt(s)", "no answer within 100ms"); k != 1 {
		t.Errorf("log = %q", l.all())
	}
}

// 5. Commands.
func TestCommandGetsEventOnStdinAndType(t *testing.T) {
	dir := t.TempDir()
	out, types := filepath.Join(dir, "events"), filepath.Join(dir, "types")
	cmd := fmt.Sprintf(`cat >> '%s' && echo "$NWROLL_EVENT_TYPE" >> '%s'`, out, types)
	t.Setenv("NWROLL_EVENT_TYPE", "inherited") // replaced, not duplicated
	n := mustNew(t, Config{Commands: []string{cmd}})
	events := []string{`{"type":"run.started","run":"r1"}`, `{"type":"node.upgraded","node":"fw-1"}`, `{"no_type":true}`, `not json`}
	for _, e := range events {
		n.Send([]byte(e))
	}
	closeWithin(t, n)

	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(events, "\n") + "\n"; string(got) != want {
		t.Errorf("stdin seen by the command:\n%s\nwant:\n%s", got, want)
	}
	gotTypes, err := os.ReadFile(types)
	if err != nil {
		t.Fatal(err)
	}
	if want := "run.started\nnode.upgraded\n\n\n"; string(gotTypes) != want {
		t.Errorf("NWROLL_EVENT_TYPE values %q, want %q", gotTypes, want)
	}
	if s := stat(t, n, "cmd:cat …"); s != (Stat{Delivered: 4, Attempts: 4}) {
		t.Errorf("Stats = %+v", s)
	}
}

func TestFailingCommandLogsExitCodeAndStderr(t *testing.T) {
	dir := t.TempDir()
	tries := filepath.Join(dir, "tries")
	cmd := fmt.Sprintf(`echo x >> '%s'; echo "boom: first line" >&2; echo "second line" >&2; exit 3`, tries)
	var l logs
	n := mustNew(t, Config{Commands: []string{cmd}, Retries: 1, Backoff: time.Millisecond, Logf: l.logf})
	n.Send([]byte(ev(1)))
	closeWithin(t, n)

	b, _ := os.ReadFile(tries)
	if got := strings.Count(string(b), "x"); got != 2 {
		t.Errorf("command ran %d times, want 2 (one retry)", got)
	}
	lines := l.all()
	if len(lines) != 1 {
		t.Fatalf("want one log line, got %q", lines)
	}
	line := lines[0]
	for _, want := range []string{"cmd:echo …", "after 2 attempt(s)", "exit code 3", `stderr: "boom: first line"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "second line") {
		t.Errorf("log line %q has more than stderr's first line", line)
	}
	if s := stat(t, n, "cmd:echo …"); s != (Stat{Failed: 1, Attempts: 2}) {
		t.Errorf("Stats = %+v", s)
	}
}

func TestCommandStderrTruncated(t *testing.T) {
	var l logs
	n := mustNew(t, Config{Commands: []string{`printf '%0300d\n' 0 >&2; exit 1`}, Retries: -1, Logf: l.logf})
	n.Send([]byte(ev(1)))
	closeWithin(t, n)
	line := strings.Join(l.all(), "\n")
	if !strings.Contains(line, strings.Repeat("0", 200)+"…") || strings.Contains(line, strings.Repeat("0", 201)) {
		t.Errorf("want stderr cut at 200 chars: %q", line)
	}
	if !strings.Contains(line, "exit code 1") {
		t.Errorf("log lacks the exit code: %q", line)
	}
}

func TestHungCommandIsKilledAtTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	var l logs
	n := mustNew(t, Config{
		Commands: []string{fmt.Sprintf(`echo $$ > '%s'; sleep 30; echo not reached`, pidFile)},
		Timeout:  time.Second, Retries: -1, Logf: l.logf,
	})
	n.Send([]byte(ev(1)))
	closeWithin(t, n)

	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the command never started: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("pid file %q", b)
	}
	// The shell and its sleep (same process group) are gone; a zombie left
	// for a container's init to reap does not count.
	waitFor(t, "the command's process group to die", func() bool { return len(liveInGroup(t, pid)) == 0 })
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) = %v, want ESRCH: the shell was not reaped", pid, err)
	}
	if k := l.count("cmd:echo …", "no exit within 1s", "killed"); k != 1 {
		t.Errorf("log = %q", l.all())
	}
	if s := stat(t, n, "cmd:echo …"); s != (Stat{Failed: 1, Attempts: 1}) {
		t.Errorf("Stats = %+v", s)
	}
}

// liveInGroup lists the pids of process group pgid that are not zombies.
func liveInGroup(t *testing.T, pgid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var live []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // state ppid pgrp ...
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			live = append(live, pid)
		}
	}
	return live
}

// 6. Secrets.
func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://hooks.slack.com/services/T000/B000/XXXXSECRET", "https://hooks.slack.com/…"},
		{"https://example.webhook.office.com/webhookb2/abc@def/IncomingWebhook/x/y", "https://example.webhook.office.com/…"},
		{"http://127.0.0.1:8080/hook?token=abc", "http://127.0.0.1:8080/…"},
		{"https://user:pass@example.com:8443/x", "https://example.com:8443/…"},
		{"https://user:pass@example.com", "https://example.com"},
		{"https://example.com", "https://example.com"},
		{"https://example.com/", "https://example.com/"},
		{"https://example.com?token=abc", "https://example.com/…"},
		{"https://example.com/#frag", "https://example.com/…"},
		{"http://[::1]:9000/p", "http://[::1]:9000/…"},
		{"HTTPS://Example.com/p", "https://Example.com/…"},
		{"hooks.example.com/secret", "(invalid URL)"},
		{"%zz/secret", "(invalid URL)"},
		{"", "(invalid URL)"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSecretsStayOutOfTheLog(t *testing.T) {
	const secretPath = "/services/T000/B000/XXXXSECRET?token=abc"
	fail500 := newHook(t, func(int, http.ResponseWriter, *http.Request) int { return http.StatusInternalServerError })
	fail404 := newHook(t, func(int, http.ResponseWriter, *http.Request) int { return http.StatusNotFound })
	slow, release := blockingHook(t)
	defer release()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/again/XXXXSECRET?token=abc")
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	refused := "http://user:XXXXSECRET@" + closedPort(t) + secretPath
	dir := t.TempDir()
	var l logs
	n := mustNew(t, Config{
		URLs: []string{fail500.url(secretPath), fail404.url(secretPath), redirect.URL + secretPath, refused},
		Commands: []string{
			`curl -fsS -m 5 -H 'Authorization: Bearer sekrit' http://` + closedPort(t) + `/sekrit-path; exit 7`,
			`echo "Bearer sekrit rejected by server" >&2; exit 1`,
			"TOKEN=sekrit " + filepath.Join(dir, "missing-program") + " --token sekrit",
			`cat >&2; exit 1`, // echoes the event to stderr
		},
		Retries: 1, Backoff: time.Millisecond, Logf: l.logf,
	})
	timesOut := mustNew(t, Config{URLs: []string{slow.url(secretPath)}, Timeout: 300 * time.Millisecond, Retries: 1, Backoff: time.Millisecond, Logf: l.logf})
	for _, n := range []*Notifier{n, timesOut} {
		n.Send([]byte(`{"type":"run.failed","detail":"event body text"}`))
		closeWithin(t, n)
	}

	lines := l.all()
	if len(lines) != 9 {
		t.Errorf("want one line per receiver (9), got %d: %q", len(lines), lines)
	}
	for _, line := range lines {
		for _, secret := range []string{"XXXXSECRET", "token=abc", "sekrit", "/services", "user:", "event body text"} {
			if strings.Contains(line, secret) {
				t.Errorf("log line leaks %q: %q", secret, line)
			}
		}
	}
	stats := n.Stats()
	maps.Copy(stats, timesOut.Stats())
	if len(stats) != 9 {
		t.Errorf("Stats has %d receivers, want 9: %v", len(stats), stats)
	}
	for name, s := range stats {
		if strings.Contains(name, "XXXXSECRET") || strings.Contains(name, "sekrit") || strings.Contains(name, "token") {
			t.Errorf("Stats key leaks a secret: %q", name)
		}
		if s.Failed != 1 {
			t.Errorf("%s: Stats = %+v, want 1 failure", name, s)
		}
	}
	// The receivers are still named usefully.
	for _, want := range []string{fail500.url("/…"), "HTTP 500", "HTTP 404", "no answer within", "cmd:curl …", "exit code 7", "cmd:echo …", "cmd:" + filepath.Join(dir, "missing-program") + " …", "stderr repeats the event"} {
		if l.count(want) == 0 {
			t.Errorf("no log line mentions %q: %q", want, lines)
		}
	}
}

// 7. Validation and the nil Notifier.
func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want []string // all in the error
	}{
		{Config{URLs: []string{""}}, []string{`--notify ""`, "empty", "https://"}},
		{Config{URLs: []string{"ftp://x"}}, []string{`--notify "ftp://x"`, "ftp", "give an http:// or https:// URL"}},
		{Config{URLs: []string{"hooks.example.com/x"}}, []string{`--notify "hooks.example.com/…"`, "no scheme", "https://hooks.example.com/nwroll"}},
		{Config{URLs: []string{"http://"}}, []string{`--notify "http://"`, "no host"}},
		{Config{URLs: []string{"http://:8080/x"}}, []string{`--notify "http://:8080/…"`, "no host"}},
		{Config{URLs: []string{"https://ok.example.com/x", "foo"}}, []string{`--notify "foo"`}},
		{Config{URLs: []string{"https://hooks.slack.com /services/T/B/XXXXSECRET"}}, []string{`--notify "https://hooks.slack.com /…"`, "not a valid URL"}},
		{Config{Commands: []string{""}}, []string{`--notify-cmd ""`, "give a"}},
		{Config{Commands: []string{"logger x", "  \t"}}, []string{`--notify-cmd "  \t"`, "empty command"}},
	} {
		n, err := New(tc.c)
		if err == nil || n != nil {
			t.Errorf("New(%+v) = %v, %v; want an error", tc.c, n, err)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("error is not one line: %q", msg)
		}
		if strings.Contains(msg, "XXXXSECRET") {
			t.Errorf("error leaks the URL's path: %q", msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("New(%+v) error %q lacks %q", tc.c, msg, w)
			}
		}
	}
}

func TestNoReceiversAndNilNotifier(t *testing.T) {
	n, err := New(Config{})
	if n != nil || err != nil {
		t.Fatalf("New(Config{}) = %v, %v; want nil, nil", n, err)
	}
	var nilN *Notifier
	nilN.Send([]byte(ev(1)))
	if err := nilN.Close(context.Background()); err != nil {
		t.Errorf("nil Close = %v", err)
	}
	if s := nilN.Stats(); len(s) != 0 {
		t.Errorf("nil Stats = %v", s)
	}
}

// 8. Close.
func TestCloseDrainsQueue(t *testing.T) {
	gate := make(chan struct{})
	h := newHook(t, func(i int, w http.ResponseWriter, r *http.Request) int {
		<-gate
		return http.StatusOK
	})
	var l logs
	n := mustNew(t, Config{URLs: []string{h.url("/hook")}, Timeout: time.Hour, Logf: l.logf})
	const count = 20
	for i := range count {
		n.Send([]byte(ev(i)))
	}
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		closed <- n.Close(ctx)
	}()
	// Close stops accepting at once; what is queued is still delivered.
	waitFor(t, "Close to stop accepting", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.closed
	})
	n.Send([]byte(ev(999))) // after Close: ignored, no panic
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with %d events still queued", err, count)
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close = %v", err)
		}
	case <-time.After(patience):
		t.Fatal("Close did not return after the receiver recovered")
	}
	got := h.delivered()
	if len(got) != count {
		t.Fatalf("delivered %d, want %d", len(got), count)
	}
	for i, b := range got {
		if b != ev(i) {
			t.Errorf("event %d = %q", i, b)
		}
	}
	if err := n.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
	n.Send([]byte(ev(1000)))
	if s := stat(t, n, h.url("/…")); s != (Stat{Delivered: count, Attempts: count}) {
		t.Errorf("Stats = %+v", s)
	}
	if lines := l.all(); len(lines) != 0 {
		t.Errorf("log = %q", lines)
	}
}

func TestCloseDeadlineAbandonsTheRest(t *testing.T) {
	h, release := blockingHook(t)
	defer release()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	var l logs
	n := mustNew(t, Config{
		URLs:     []string{h.url("/hook")},
		Commands: []string{fmt.Sprintf(`echo $$ > '%s'; sleep 30`, pidFile)},
		Timeout:  time.Hour, Logf: l.logf,
	})
	for i := range 5 {
		n.Send([]byte(ev(i)))
	}
	<-h.entered
	waitFor(t, "the command to start", func() bool { b, _ := os.ReadFile(pidFile); return len(b) > 0 })

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := n.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "10 event(s) not delivered") {
		t.Fatalf("Close = %v, want an error counting 10 undelivered events", err)
	}
	for _, name := range []string{h.url("/…"), "cmd:echo …"} {
		if s := stat(t, n, name); s.Abandoned != 5 || s.Delivered != 0 || s.Failed != 0 {
			t.Errorf("%s: Stats = %+v, want 5 abandoned", name, s)
		}
		if k := l.count(name+":", "5 event(s) not delivered"); k != 1 {
			t.Errorf("log = %q", l.all())
		}
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitFor(t, "the abandoned command to be killed", func() bool { return len(liveInGroup(t, pid)) == 0 })
	if err2 := n.Close(context.Background()); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second Close = %v, want the first's %v", err2, err)
	}
	n.Send([]byte(ev(9)))
}
