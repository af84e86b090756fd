// Package notify delivers selected run events (`--notify URL`,
// `--notify-cmd CMD`) to webhooks and local commands.
//
// Guarantees:
//   - Send never blocks the run: each receiver has its own goroutine and
//     bounded queue; when a queue is full the event is dropped for that
//     receiver only, and the overflow is logged once per episode.
//   - Events reach one receiver in the order they were sent; a slow or
//     failing receiver never delays another.
//   - Failed attempts (network errors, timeouts, HTTP 5xx and 429, non-zero
//     exit) are retried with exponential backoff; other HTTP 4xx are not.
//   - A receiver that keeps failing is logged (one line per lost event) and
//     never fails the run.
//   - Secrets stay out of the log: a webhook URL is shown only as
//     scheme://host/… (see Redact), a command only by its program name, and
//     the event body is never logged.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Defaults for the zero values of Config's fields.
const (
	DefaultTimeout   = 5 * time.Second
	DefaultRetries   = 3
	DefaultBackoff   = 500 * time.Millisecond
	DefaultQueueSize = 256
	DefaultUserAgent = "nwroll"

	// maxWait caps both the exponential backoff and a receiver's Retry-After.
	maxWait = 30 * time.Second
	// stderrLineMax is how much of a failing command's first stderr line is logged.
	stderrLineMax = 200
)

// Config says where events go and how hard to try.
type Config struct {
	URLs     []string // --notify values: absolute http:// or https:// URLs
	Commands []string // --notify-cmd values: run with /bin/sh -c, event on stdin

	Timeout   time.Duration // per attempt; 0 means DefaultTimeout
	Retries   int           // extra attempts after the first; 0 means DefaultRetries, negative means none
	Backoff   time.Duration // delay before the first retry, doubling after; 0 means DefaultBackoff
	QueueSize int           // events waiting per receiver; 0 means DefaultQueueSize

	// Logf receives delivery problems, one line per call, already redacted.
	// It is called from several goroutines (and from Send when a queue
	// overflows), so it must be safe for concurrent use and quick. nil
	// discards.
	Logf func(format string, args ...any)

	UserAgent string // for webhooks; "" means DefaultUserAgent
}

// Stat counts what happened to the events sent to one receiver.
type Stat struct {
	Delivered int // accepted by the receiver (HTTP 2xx, exit status 0)
	Failed    int // given up on after the last attempt, or rejected (HTTP 4xx)
	Dropped   int // not queued because the receiver's queue was full
	Abandoned int // still queued or in flight when Close's deadline passed
	Attempts  int // HTTP requests made or commands run
}

// Notifier fans events out to its receivers. A nil *Notifier is valid: all
// its methods do nothing.
type Notifier struct {
	cfg       Config
	receivers []*receiver
	client    *http.Client

	ctx    context.Context // canceled when Close gives up: in-flight attempts end
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed and the queues' closing
	closed bool

	workers   sync.WaitGroup
	done      chan struct{} // closed when every worker has returned
	closeOnce sync.Once
	sumOnce   sync.Once
	closeErr  error
}

type receiver struct {
	name    string              // as logged and as the key in Stats
	scrub   func(string) string // removes this receiver's secrets from a message
	attempt func(context.Context, event) result
	queue   chan event

	mu      sync.Mutex
	stat    Stat
	episode int // events dropped in the current overflow episode
}

type event struct {
	body []byte
	typ  string // the top-level "type" field, for NWROLL_EVENT_TYPE
}

// result of one attempt.
type result struct {
	err        error         // nil: delivered
	retry      bool          // worth another attempt
	retryAfter time.Duration // the receiver's own wait (Retry-After), if >= 0
}

// New checks every --notify and --notify-cmd value and starts one delivery
// goroutine per receiver. With no receivers it returns nil, nil; a nil
// *Notifier accepts and ignores every call.
func New(c Config) (*Notifier, error) {
	for _, raw := range c.URLs {
		if err := checkURL(raw); err != nil {
			return nil, err
		}
	}
	for _, cmd := range c.Commands {
		if strings.TrimSpace(cmd) == "" {
			return nil, fmt.Errorf("--notify-cmd %q: empty command; give a shell command that reads the event (one JSON line) on stdin, e.g. --notify-cmd 'logger -t nwroll'", cmd)
		}
	}
	if len(c.URLs)+len(c.Commands) == 0 {
		return nil, nil
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}

	n := &Notifier{cfg: c, done: make(chan struct{})}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if len(c.URLs) > 0 {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		n.client = &http.Client{Transport: tr}
	}
	seen := map[string]int{}
	unique := func(name string) string {
		seen[name]++
		if k := seen[name]; k > 1 {
			return fmt.Sprintf("%s #%d", name, k)
		}
		return name
	}
	for _, raw := range c.URLs {
		r := n.newURLReceiver(raw)
		r.name = unique(r.name)
		n.receivers = append(n.receivers, r)
	}
	for _, cmd := range c.Commands {
		r := n.newCommandReceiver(cmd)
		r.name = unique(r.name)
		n.receivers = append(n.receivers, r)
	}
	for _, r := range n.receivers {
		r.queue = make(chan event, c.QueueSize)
		n.workers.Add(1)
		go n.work(r)
	}
	go func() { n.workers.Wait(); close(n.done) }()
	return n, nil
}

// checkURL explains, in one line, why raw is not a usable webhook URL. The
// value is shown without its path and query: a mistyped webhook URL is
// still a secret.
func checkURL(raw string) error {
	const fix = "give an http:// or https:// URL, e.g. https://hooks.example.com/nwroll"
	bad := func(why string) error {
		return fmt.Errorf("--notify %q: %s; %s", showBadURL(raw), why, fix)
	}
	if strings.TrimSpace(raw) == "" {
		return bad("empty URL")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return bad("not a valid URL")
	case u.Scheme == "":
		return bad("no scheme")
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("scheme " + u.Scheme + ":// is not supported")
	case u.Host == "" || u.Hostname() == "":
		return bad("no host")
	}
	return nil
}

// showBadURL shows a rejected --notify value up to its first '/', '?' or
// '#' after the host (then "/…"), without userinfo.
func showBadURL(raw string) string {
	prefix, rest := "", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	tail := ""
	if k := strings.IndexAny(rest, "/?#"); k >= 0 {
		if k < len(rest)-1 || rest[k] != '/' {
			tail = "/…"
		}
		rest = rest[:k]
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	s := prefix + rest
	if len(s) > 80 {
		s = truncate(s, 80)
	}
	return s + tail
}

// Redact names a webhook without its secrets: scheme://host[:port], then
// "/…" when the URL has a path, query or fragment (Slack and Teams carry
// their token in the path, others in ?token=). Userinfo is dropped. A value
// that is not an absolute URL gives "(invalid URL)".
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(invalid URL)"
	}
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return s + "/…"
	}
	return s + u.Path
}

// commandName is how a --notify-cmd is logged: its program and "…" when
// there is more (arguments may carry tokens). Leading NAME=value words are
// skipped: their values may be tokens too.
func commandName(cmd string) string {
	words := strings.Fields(cmd)
	i := 0
	for i < len(words)-1 && envAssign.MatchString(words[i]) {
		i++
	}
	prog := strings.Trim(words[i], `'"`)
	if envAssign.MatchString(words[i]) || prog == "" {
		prog = "sh"
	}
	if len(words) > 1 {
		prog += " …"
	}
	return "cmd:" + prog
}

var envAssign = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// scrubber replaces each secret (longer than 3 bytes) in a message by "…".
func scrubber(secrets ...string) func(string) string {
	var keep []string
	for _, s := range secrets {
		if len(s) > 3 {
			keep = append(keep, s)
		}
	}
	// Longest first, so a secret containing another goes whole.
	for i := 1; i < len(keep); i++ {
		for j := i; j > 0 && len(keep[j]) > len(keep[j-1]); j-- {
			keep[j], keep[j-1] = keep[j-1], keep[j]
		}
	}
	return func(msg string) string {
		for _, s := range keep {
			msg = strings.ReplaceAll(msg, s, "…")
		}
		return msg
	}
}

func (n *Notifier) logf(format string, args ...any) {
	if n.cfg.Logf != nil {
		n.cfg.Logf(format, args...)
	}
}

// Send queues event for every receiver and returns at once. The bytes are
// copied, so the caller may reuse them. A receiver whose queue is full
// misses the event; Send never waits for one. After Close, Send does
// nothing.
func (n *Notifier) Send(event []byte) {
	if n == nil {
		return
	}
	ev := newEvent(event)
	var msgs []string
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	for _, r := range n.receivers {
		select {
		case r.queue <- ev:
			r.mu.Lock()
			if r.episode > 0 {
				msgs = append(msgs, fmt.Sprintf("notify: %s: queue has room again; %d event(s) were dropped while it was full", r.name, r.episode))
				r.episode = 0
			}
			r.mu.Unlock()
		default:
			r.mu.Lock()
			r.stat.Dropped++
			r.episode++
			if r.episode == 1 {
				msgs = append(msgs, fmt.Sprintf("notify: %s: queue full (%d events waiting; receiver slow or stuck); dropping events for it until it catches up", r.name, cap(r.queue)))
			}
			r.mu.Unlock()
		}
	}
	n.mu.Unlock()
	for _, m := range msgs {
		n.logf("%s", m)
	}
}

func newEvent(body []byte) event {
	ev := event{body: bytes.Clone(body)}
	var head struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &head) == nil {
		ev.typ = strings.ReplaceAll(head.Type, "\x00", "")
	}
	return ev
}

// work delivers r's events in order until its queue is closed. Once Close
// has given up (n.ctx canceled) the rest are counted as abandoned.
func (n *Notifier) work(r *receiver) {
	defer n.workers.Done()
	for ev := range r.queue {
		if n.ctx.Err() != nil {
			r.count(func(s *Stat) { s.Abandoned++ })
			continue
		}
		n.deliver(r, ev)
	}
}

func (r *receiver) count(f func(*Stat)) {
	r.mu.Lock()
	f(&r.stat)
	r.mu.Unlock()
}

// deliver makes up to 1+Retries attempts at one event.
func (n *Notifier) deliver(r *receiver, ev event) {
	wait := n.cfg.Backoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(n.ctx, n.cfg.Timeout)
		r.count(func(s *Stat) { s.Attempts++ })
		res := r.attempt(actx, ev)
		cancel()
		if res.err == nil {
			r.count(func(s *Stat) { s.Delivered++ })
			return
		}
		if n.ctx.Err() != nil { // Close gave up on this one mid-attempt
			r.count(func(s *Stat) { s.Abandoned++ })
			return
		}
		if !res.retry {
			r.count(func(s *Stat) { s.Failed++ })
			n.logf("notify: %s: event not delivered: %s (not retried)", r.name, r.scrub(res.err.Error()))
			return
		}
		if attempt > n.cfg.Retries {
			r.count(func(s *Stat) { s.Failed++ })
			n.logf("notify: %s: event not delivered after %d attempt(s): %s", r.name, attempt, r.scrub(res.err.Error()))
			return
		}
		pause := min(wait, maxWait)
		if res.retryAfter >= 0 {
			pause = min(res.retryAfter, maxWait)
		}
		wait *= 2
		if pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-n.ctx.Done():
				t.Stop()
				r.count(func(s *Stat) { s.Abandoned++ })
				return
			}
		}
	}
}

// Close stops accepting events and delivers what is queued until ctx ends;
// then it abandons the rest (in-flight attempts are canceled, commands
// killed) and logs, per receiver, how many events were not delivered. It
// returns an error only when events were abandoned. Calling it again is
// fine: it returns the first call's result once that call is done.
func (n *Notifier) Close(ctx context.Context) error {
	if n == nil {
		return nil
	}
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		for _, r := range n.receivers {
			close(r.queue)
		}
		n.mu.Unlock()
	})
	select {
	case <-n.done:
	case <-ctx.Done():
		n.cancel()
		<-n.done // attempts and backoffs end promptly once n.ctx is canceled
	}
	n.sumOnce.Do(func() {
		n.cancel()
		if n.client != nil {
			n.client.CloseIdleConnections()
		}
		abandoned := 0
		for _, r := range n.receivers {
			r.mu.Lock()
			ep, ab := r.episode, r.stat.Abandoned
			r.episode = 0
			r.mu.Unlock()
			if ep > 0 {
				n.logf("notify: %s: %d event(s) were dropped while its queue was full", r.name, ep)
			}
			if ab > 0 {
				n.logf("notify: %s: %d event(s) not delivered: gave up at shutdown", r.name, ab)
				abandoned += ab
			}
		}
		if abandoned > 0 {
			n.closeErr = fmt.Errorf("notify: %d event(s) not delivered before the shutdown deadline", abandoned)
		}
	})
	return n.closeErr
}

// Stats returns the counts per receiver, keyed by the receiver's name as
// logged (Redact(url) for webhooks, "cmd:" and the program for commands; a
// " #2" suffix tells apart receivers whose names would be the same).
func (n *Notifier) Stats() map[string]Stat {
	if n == nil {
		return nil
	}
	out := make(map[string]Stat, len(n.receivers))
	for _, r := range n.receivers {
		r.mu.Lock()
		out[r.name] = r.stat
		r.mu.Unlock()
	}
	return out
}

// --- webhooks

func (n *Notifier) newURLReceiver(raw string) *receiver {
	u, _ := url.Parse(raw) // checked by New
	secrets := []string{raw, u.Path, u.EscapedPath(), u.RawQuery, u.Fragment, u.Opaque}
	if u.User != nil {
		p, _ := u.User.Password()
		secrets = append(secrets, u.User.String(), u.User.Username(), p)
	}
	r := &receiver{name: Redact(raw), scrub: scrubber(secrets...)}
	timeout := n.cfg.Timeout
	r.attempt = func(ctx context.Context, ev event) result {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, raw, bytes.NewReader(ev.body))
		if err != nil {
			return result{err: errors.New("cannot build the request"), retryAfter: -1}
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", n.cfg.UserAgent)
		resp, err := n.client.Do(req)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return result{err: fmt.Errorf("no answer within %s", timeout), retry: true, retryAfter: -1}
			}
			// *url.Error repeats the whole URL: keep only its cause.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return result{err: err, retry: true, retryAfter: -1}
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		code := resp.StatusCode
		status := fmt.Errorf("HTTP %d %s", code, http.StatusText(code))
		switch {
		case code >= 200 && code < 300:
			return result{}
		case code == http.StatusTooManyRequests || code >= 500:
			res := result{err: status, retry: true, retryAfter: -1}
			if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
				if d, ok := parseRetryAfter(resp.Header.Get("Retry-After")); ok {
					res.retryAfter = d
				}
			}
			return res
		default:
			return result{err: status, retryAfter: -1}
		}
	}
	return r
}

// parseRetryAfter reads a Retry-After header: delay-seconds, or an HTTP date.
func parseRetryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		if s > int64(maxWait/time.Second) {
			return maxWait, true
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// --- commands

func (n *Notifier) newCommandReceiver(command string) *receiver {
	// Arguments may carry tokens, and a command may echo them on stderr.
	name := commandName(command)
	prog := strings.TrimSuffix(strings.TrimPrefix(name, "cmd:"), " …")
	secrets := []string{command}
	for _, w := range strings.Fields(command) {
		if envAssign.MatchString(w) {
			secrets = append(secrets, w, w[strings.IndexByte(w, '=')+1:])
		}
		if w = strings.Trim(w, `'"`); len(w) >= 6 && w != prog {
			secrets = append(secrets, w)
		}
	}
	r := &receiver{name: name, scrub: scrubber(secrets...)}
	timeout := n.cfg.Timeout
	r.attempt = func(ctx context.Context, ev event) result {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
		cmd.Stdin = bytes.NewReader(append(ev.body[:len(ev.body):len(ev.body)], '\n'))
		cmd.Env = append(os.Environ(), "NWROLL_EVENT_TYPE="+ev.typ)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error {
			// The whole process group: sh and whatever it started.
			return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		cmd.WaitDelay = time.Second // a background child holding stderr open
		stderr := &headBuffer{max: 8 << 10}
		cmd.Stderr = stderr
		err := cmd.Run()
		if err == nil || (errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success()) {
			return result{}
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return result{err: fmt.Errorf("no exit within %s; killed its process group", timeout), retry: true, retryAfter: -1}
		}
		var msg string
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee) && ee.ExitCode() >= 0:
			msg = fmt.Sprintf("exit code %d", ee.ExitCode())
		case errors.As(err, &ee):
			msg = "killed: " + ee.String()
		default:
			msg = "cannot run /bin/sh: " + err.Error()
		}
		if line := firstLine(stderr.Bytes()); line != "" {
			if len(line) > 8 && bytes.Contains(ev.body, []byte(line)) {
				msg += "; stderr repeats the event (not shown)"
			} else {
				msg += fmt.Sprintf("; stderr: %q", truncate(line, stderrLineMax))
			}
		}
		return result{err: errors.New(msg), retry: true, retryAfter: -1}
	}
	return r
}

// headBuffer keeps the first max bytes written to it and discards the rest.
type headBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *headBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *headBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf)
}

// firstLine is the first non-blank line of out.
func firstLine(out []byte) string {
	for line := range strings.SplitSeq(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

// truncate cuts s to at most limit bytes on a rune boundary, marking the cut.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
