package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nwroll/nwroll/internal/schemacheck"
	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/sim"
)

// The console with --pause-before leader and --notify-cmd, walked in tmux
// and ended by a SIGTERM during the leader's upgrade: the pause is a step
// whose dialog waits for y; the command gets the notable events (the
// operator's approvals among them) and a summary; the signal quits as a
// confirmed q would (the run ends interrupted, every node running) and
// the demo's cluster goes down with it.
func TestTmuxWalkPauseNotifySignal(t *testing.T) {
	tmp, bin := tmuxWalkSetup(t, "the tmux walk takes about a minute")
	dir := filepath.Join(tmp, "demo")
	events := filepath.Join(tmp, "events.jsonl")
	w := &tmuxWalk{t: t, session: fmt.Sprintf("nwroll-auto-%d", os.Getpid()), socket: filepath.Join(tmp, "tmux.sock")}
	script := fmt.Sprintf("%s demo --dir %s --pause-before leader --notify-cmd 'cat >> %s'; echo WALK-EXIT=$?; sleep 60", bin, dir, events)
	w.tmux("new-session", "-d", "-s", w.session, "-x", "120", "-y", "40", "env", "TERM=xterm-256color", "sh", "-c", script)
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-S", w.socket, "kill-server").Run()
		_ = exec.Command(bin, "sim", "down", "--dir", dir).Run() // in case the demo did not
	})
	pauseDialog := func(s string) bool {
		m := dialogRe.FindStringSubmatch(s)
		return m != nil && strings.Contains(m[1], "Pause before")
	}
	w.approveUntil(t, 4*time.Minute, func() bool { return pauseDialog(w.capture()) })
	screen := w.waitFor("the pause's dialog", 10*time.Second, func(s string) bool { return dialogRe.MatchString(s) && strings.Contains(s, "hold the run here") })
	m := dialogRe.FindStringSubmatch(screen)
	if !strings.HasPrefix(strings.TrimSpace(m[1]), "Pause before upgrading fw-") || !strings.Contains(screen, "(--pause-before leader)") {
		t.Fatalf("the pause's dialog:\n%s", screen)
	}
	leaderRunning := regexp.MustCompile(`›[^?·✓✗\s]\s*\d+\. Upgrade fw-[a-z] \(leader\)`) // its spinner, not ? (its dialog)
	w.approveUntil(t, 2*time.Minute, func() bool { return leaderRunning.MatchString(w.capture()) })

	out, err := exec.Command("pgrep", "-f", "^"+bin+" demo --dir "+dir).Output()
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || pid == 0 {
		t.Fatalf("the demo's pid: %q %v", out, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	screen = w.waitFor("the exit", 90*time.Second, func(s string) bool { return strings.Contains(s, "WALK-EXIT=") })
	if !strings.Contains(screen, "WALK-EXIT=1") || !strings.Contains(screen, "exit 1: interrupted") || strings.Contains(screen, "may be stopped") {
		t.Fatalf("the SIGTERM did not quit safely (exit 1, interrupted, no node stopped):\n%s", screen)
	}
	if c, err := sim.Open(dir); err == nil && c.Info().State == sim.StateUp {
		t.Errorf("the demo left its cluster up")
	}

	b, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	var last rollout.LogEntry
	run := ""
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		schemacheck.Validate(t, "event", line)
		var l rollout.LogEntry
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatal(err)
		}
		if run == "" {
			run = l.Run
		}
		if l.Run != run {
			t.Errorf("events of two runs: %q, %q", run, l.Run)
		}
		kinds[l.Type+" "+l.Op]++
		if l.Type == "approval" && l.Step == "pause-before-leader" && !strings.Contains(l.Detail, "approved by") {
			t.Errorf("the pause's approval does not name who: %s", line)
		}
		last = l
	}
	for _, k := range []string{"event step-started", "approval approved", "event quit", "finish finish"} {
		if kinds[k] == 0 {
			t.Errorf("no %q notification: %v", k, kinds)
		}
	}
	if kinds["event paused"] != 0 {
		t.Errorf("the console paused like a --yes run: %v", kinds)
	}
	if last.Type != "summary" || last.Summary == nil || last.Summary.Outcome != "interrupted" || last.Summary.ExitCode != 1 || last.Summary.Retry != "resume" {
		t.Fatalf("the last notification is not the run's summary: %+v %+v", last, last.Summary)
	}
	for _, n := range last.Summary.Nodes {
		if n.MayBeStopped {
			t.Errorf("%s may be stopped after the SIGTERM", n.Name)
		}
	}
}
