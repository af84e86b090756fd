package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/sim"
)

// TestTmuxWalk is the operator's walk through the console, done the way a
// person does it: the real binary runs `nwroll demo` in tmux at 120x40, keys
// go in with send-keys, and each stage is checked on the captured screen:
// the node table with its leader mark, the confirm dialog, every approval,
// every node upgraded, the viewer's overview, and the exit.
func TestTmuxWalk(t *testing.T) {
	tmp, bin := tmuxWalkSetup(t, "the tmux walk takes about two minutes")
	dir := filepath.Join(tmp, "demo")
	w := &tmuxWalk{t: t, session: fmt.Sprintf("nwroll-walk-%d", os.Getpid()), socket: filepath.Join(tmp, "tmux.sock")}
	script := fmt.Sprintf("%s demo --dir %s; echo WALK-EXIT=$?; sleep 60", bin, dir)
	// 80x24 is a first-class size: dialogs scroll, the detail shows all.
	w.tmux("new-session", "-d", "-s", w.session, "-x", "80", "-y", "24", "env", "TERM=xterm-256color", "sh", "-c", script)
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-S", w.socket, "kill-server").Run()
		_ = exec.Command(bin, "sim", "down", "--dir", dir).Run() // in case the demo did not
	})

	// The node table: three rows, the leader marked with a glyph.
	screen := w.waitFor("the node table with a leader", 90*time.Second, func(s string) bool {
		return strings.Contains(s, "★ leader") && rowRe("fw-a").MatchString(s) && rowRe("fw-b").MatchString(s) && rowRe("fw-c").MatchString(s)
	})
	for _, col := range []string{"NODE", "ROLE", "RELEASE", "READY", "LAG", "SEEN", "ROLLOUT"} {
		if !strings.Contains(screen, col) {
			t.Errorf("the node table lacks column %s:\n%s", col, screen)
		}
	}
	// The first confirm dialog: the lock.
	screen = w.waitFor("the lock's confirm dialog", 60*time.Second, func(s string) bool {
		return strings.Contains(s, "Approve step") && strings.Contains(s, "y approve")
	})
	if !strings.Contains(screen, "Take the lock") || !strings.Contains(screen, "cancel (default)") {
		t.Fatalf("the first dialog should ask for the lock, with cancel as the default:\n%s", screen)
	}

	// A node's detail (i), read to its end: the service log the node's
	// own journalctl serves over SSH. esc brings the dialog back.
	w.keys("i")
	w.waitFor("fw-a's detail", 20*time.Second, func(s string) bool { return strings.Contains(s, "Node fw-a") && strings.Contains(s, "Readiness") })
	w.keys("G")
	w.waitFor("fw-a's service log lines", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "100%") && strings.Contains(s, "[INFO]  neuwerk: ") // the log's end, from fw-a's own process
	})
	w.keys("Escape")
	w.waitFor("the lock's dialog again", 10*time.Second, func(s string) bool { return strings.Contains(s, "Take the lock") })

	// Approve every dialog, one keypress each, until the run finishes.
	approved := map[string]bool{}
	scrolled := 0 // dialogs read to their end before y
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		s := w.capture()
		if strings.Contains(s, "finished:") {
			break
		}
		checkHeaderLeader(t, s)
		if m := dialogRe.FindStringSubmatch(s); m != nil && strings.Contains(s, "y approve") {
			title := strings.TrimSpace(m[1])
			if approved[title] {
				t.Fatalf("the dialog %q came back after it was approved:\n%s", title, s)
			}
			if strings.Contains(title, "Upgrade") && !strings.Contains(s, "Quorum:") {
				t.Errorf("the upgrade dialog %q does not show the quorum arithmetic:\n%s", title, s)
			}
			approved[title] = true
			if strings.Contains(s, "more below") {
				scrolled++
			}
			w.approve(s)
		}
		if strings.Contains(s, "WALK-EXIT=") || strings.Contains(s, "paused in") {
			t.Fatalf("the run stopped before finishing:\n%s", s)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if scrolled == 0 {
		t.Errorf("no dialog needed scrolling at 80x24: the walk did not prove y waits for the end")
	}
	screen = w.waitFor("the finished run", 30*time.Second, func(s string) bool { return strings.Contains(s, "finished: every node runs 1.1.0") })
	for _, n := range []string{"fw-a", "fw-b", "fw-c"} {
		if !regexp.MustCompile(n + `\s.*1\.1\.0.*upgraded`).MatchString(screen) {
			t.Errorf("%s is not shown upgraded to 1.1.0:\n%s", n, screen)
		}
	}
	// lock, 3 backups, 3 upgrades: seven approvals.
	if len(approved) != 7 {
		t.Errorf("approved %d dialogs, want 7 (lock, 3 backups, 3 upgrades): %v", len(approved), approved)
	}

	// The viewer on the post-upgrade sysdump.
	w.keys("v")
	screen = w.waitFor("the viewer's overview", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "overview") && strings.Contains(s, "nodes (3)")
	})
	for _, want := range []string{"complete: 3 of 3 nodes", "★ leader fw-", "sysdump.tar.gz  fw-a", "sysdump.tar.gz  fw-b", "sysdump.tar.gz  fw-c"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the overview lacks %q:\n%s", want, screen)
		}
	}
	w.keys("Escape")
	w.waitFor("the console again", 10*time.Second, func(s string) bool {
		return !strings.Contains(s, "members (") && strings.Contains(s, "The run ended")
	})
	// The end box scrolls at 80x24 like any dialog: its end is the journal.
	if strings.Contains(w.capture(), "more below") {
		w.keys("G")
		w.waitFor("the end box's end", 10*time.Second, func(s string) bool { return strings.Contains(s, "journal: ") })
	}
	w.keys("q")
	screen = w.waitFor("the exit", 60*time.Second, func(s string) bool { return strings.Contains(s, "WALK-EXIT=") })
	if !strings.Contains(screen, "WALK-EXIT=0") || !strings.Contains(screen, "every node runs 1.1.0") || !strings.Contains(screen, "journal:") {
		t.Fatalf("the demo did not end cleanly:\n%s", screen)
	}
	if c, err := sim.Open(dir); err == nil && c.Info().State == sim.StateUp {
		t.Errorf("the demo left its cluster up")
	}
}

// tmuxWalkSetup skips a walk in -short runs or without tmux (unless
// NWROLL_REQUIRE_TMUX), and builds the real binary into a temporary
// directory, which it returns with the binary's path.
func tmuxWalkSetup(t *testing.T, why string) (tmp, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip(why)
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("NWROLL_REQUIRE_TMUX") != "" {
			t.Fatal("tmux is required (NWROLL_REQUIRE_TMUX is set) but not installed: apt-get install -y tmux")
		}
		t.Skip("tmux not installed")
	}
	t.Parallel()
	tmp = t.TempDir()
	bin = filepath.Join(tmp, "nwroll")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return tmp, bin
}

var headerLeaderRe = regexp.MustCompile(`^nwroll .*leader ★ (fw-[a-z])`)

// checkHeaderLeader: the leader the header names is the one the node
// table marks, on the same screen (during an election the header must not
// keep the last leader while the table shows none).
func checkHeaderLeader(t *testing.T, s string) {
	t.Helper()
	m := headerLeaderRe.FindStringSubmatch(s)
	if m == nil {
		return
	}
	for _, l := range strings.Split(s, "\n") {
		if rm := regexp.MustCompile(`[┃│] (fw-[a-z])\s+(\S+ \S+|\S+)`).FindStringSubmatch(l); rm != nil && rm[1] == m[1] && !strings.Contains(l, "★ leader") {
			t.Errorf("the header names %s the leader, but its row says otherwise:\n%s", m[1], s)
		}
	}
}

var dialogRe = regexp.MustCompile(`Approve step \d+ of \d+: ([^║│]+)`)

func rowRe(node string) *regexp.Regexp {
	return regexp.MustCompile(node + `\s+(★ leader|follower)\s+1\.0\.0`)
}

type tmuxWalk struct {
	t       *testing.T
	session string
	socket  string
}

func (w *tmuxWalk) tmux(args ...string) string {
	w.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", w.socket}, args...)...).CombinedOutput()
	if err != nil {
		w.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (w *tmuxWalk) capture() string { return w.tmux("capture-pane", "-p", "-t", w.session) }

func (w *tmuxWalk) keys(k ...string) { w.tmux(append([]string{"send-keys", "-t", w.session}, k...)...) }

func (w *tmuxWalk) waitFor(what string, timeout time.Duration, cond func(string) bool) string {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	var s string
	for time.Now().Before(deadline) {
		s = w.capture()
		if cond(s) {
			return s
		}
		time.Sleep(200 * time.Millisecond)
	}
	w.t.Fatalf("waited %v for %s; the screen:\n%s", timeout, what, s)
	return s
}
