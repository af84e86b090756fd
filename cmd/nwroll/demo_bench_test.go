package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkDemoFirstDialog measures `nwroll demo` as a person meets it:
// the real binary starts in tmux at 120x40 and the screen is read every
// 10 ms until the first approval dialog is on it with its keys armed
// ("y approve"): the simulated cluster's build, start and first election,
// the console's survey, pre-check and the dialog's arm delay. Each
// iteration then quits the demo (q, y) and waits for it to take its
// cluster down, outside the timer.
//
//	go test ./cmd/nwroll -run '^$' -bench DemoFirstDialog -benchtime 5x
//
// It reports s/armed-dialog (the mean) and s/dialog (the dialog on screen,
// before its keys arm). No limit is asserted: speed is measured here, not
// tested. NWROLL_BENCH_BIN=/path/to/nwroll measures that binary instead of
// this checkout's (to compare with an earlier build on the same machine).
func BenchmarkDemoFirstDialog(b *testing.B) {
	if _, err := exec.LookPath("tmux"); err != nil {
		b.Skip("tmux not installed")
	}
	tmp := b.TempDir()
	bin := os.Getenv("NWROLL_BENCH_BIN") // another build to compare with, e.g. an earlier commit's
	if bin == "" {
		bin = filepath.Join(tmp, "nwroll")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	socket := filepath.Join(tmp, "tmux.sock")
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command("tmux", append([]string{"-S", socket}, args...)...).CombinedOutput()
		return string(out), err
	}
	// A session of its own keeps the server up between iterations (a new
	// session can race the exit of a server whose last session ended).
	if out, err := tmux("new-session", "-d", "-s", "keep", "sleep", "3600"); err != nil {
		b.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	b.Cleanup(func() { _, _ = tmux("kill-server") })
	var shown, armed time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		dir := filepath.Join(tmp, fmt.Sprintf("demo-%d", i))
		session := fmt.Sprintf("demo-bench-%d-%d", os.Getpid(), i)
		script := fmt.Sprintf("%s demo --dir %s; echo DEMO-EXIT=$?; sleep 30", bin, dir)
		b.StartTimer()
		start := time.Now()
		if out, err := tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "env", "TERM=xterm-256color", "sh", "-c", script); err != nil {
			b.Fatalf("tmux new-session: %v\n%s", err, out)
		}
		var dialogAt time.Duration
		for {
			s, err := tmux("capture-pane", "-p", "-t", session)
			if err != nil {
				b.Fatalf("tmux capture-pane: %v\n%s", err, s)
			}
			if dialogAt == 0 && strings.Contains(s, "Approve step") {
				dialogAt = time.Since(start)
			}
			if strings.Contains(s, "Approve step") && strings.Contains(s, "y approve") {
				break
			}
			if strings.Contains(s, "DEMO-EXIT=") || time.Since(start) > 2*time.Minute {
				b.Fatalf("no armed approval dialog after %v; the screen:\n%s", time.Since(start).Round(time.Millisecond), s)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(start)
		b.StopTimer()
		shown += dialogAt
		armed += took
		b.Logf("run %d: dialog on screen after %v, armed after %v", i+1, dialogAt.Round(time.Millisecond), took.Round(time.Millisecond))
		quitDemo(b, tmux, session, dir, bin)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(shown.Seconds()/float64(b.N), "s/dialog")
	b.ReportMetric(armed.Seconds()/float64(b.N), "s/armed-dialog")
}

// quitDemo answers the quit question and waits for the demo to stop its
// cluster and exit; a demo that does not is taken down by sim down.
func quitDemo(b *testing.B, tmux func(...string) (string, error), session, dir, bin string) {
	b.Helper()
	_, _ = tmux("send-keys", "-t", session, "q")
	deadline := time.Now().Add(30 * time.Second)
	answered := false
	for time.Now().Before(deadline) {
		s, _ := tmux("capture-pane", "-p", "-t", session)
		if strings.Contains(s, "DEMO-EXIT=") {
			_, _ = tmux("kill-session", "-t", session)
			return
		}
		if !answered && strings.Contains(s, "Quit in the middle") {
			_, _ = tmux("send-keys", "-t", session, "y")
			answered = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	s, _ := tmux("capture-pane", "-p", "-t", session)
	_, _ = tmux("kill-session", "-t", session)
	_ = exec.Command(bin, "sim", "down", "--dir", dir).Run()
	b.Fatalf("the demo did not exit after q, y; the screen:\n%s", s)
}
