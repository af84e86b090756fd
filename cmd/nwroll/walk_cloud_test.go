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

// cloudWalks are what each simulated cloud's prepare step says, and how
// its instances are named.
var cloudWalks = []struct {
	provider        string
	prepare, freeze string
	instance        *regexp.Regexp
}{
	{sim.CloudAWS, "create a new version of launch template", "suspend AZRebalance", regexp.MustCompile(`┃ i-[0-9a-f]+\s`)},
	{sim.CloudAzure, "take the model of", "suspend AutomaticRepairs", regexp.MustCompile(`┃ neuwerk-sim-\d+_\d+\s`)},
	{sim.CloudGCP, "create an instance template from", "suspend redistribution=PROACTIVE", regexp.MustCompile(`┃ neuwerk-sim-\d+-[0-9a-z]{4}\s`)},
}

// TestTmuxWalkCloud walks `nwroll demo --cloud PROVIDER` on every simulated
// cloud in tmux at 120x40 with nothing but the on-screen hints: the
// group's pre-check and prepare dialog, each replacement's dialog with its
// quorum arithmetic, the table growing with each launched instance, every
// old instance retired, the end box, and the exit. One cloud at a time:
// each walk takes about two minutes of the machine.
func TestTmuxWalkCloud(t *testing.T) {
	for _, c := range cloudWalks {
		t.Run(c.provider, func(t *testing.T) { walkCloud(t, c.provider, c.prepare, c.freeze, c.instance) })
	}
}

func walkCloud(t *testing.T, provider, prepare, freeze string, instanceRow *regexp.Regexp) {
	tmp, bin := tmuxWalkSetup(t, "the cloud walk takes about two minutes")
	dir := filepath.Join(tmp, "democ")
	w := &tmuxWalk{t: t, session: fmt.Sprintf("nwroll-cloud-%s-%d", provider, os.Getpid()), socket: filepath.Join(tmp, "tmux.sock")}
	script := fmt.Sprintf("%s demo --cloud %s --dir %s; echo WALK-EXIT=$?; sleep 60", bin, provider, dir)
	w.tmux("new-session", "-d", "-s", w.session, "-x", "120", "-y", "40", "env", "TERM=xterm-256color", "sh", "-c", script)
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-S", w.socket, "kill-server").Run()
		_ = exec.Command(bin, "sim", "down", "--dir", dir).Run()
	})

	screen := w.waitFor("the prepare dialog", 90*time.Second, func(s string) bool {
		return strings.Contains(s, "Approve step") && strings.Contains(s, "Prepare group")
	})
	for _, want := range []string{"✓  3. Pre-check group neuwerk-", prepare, freeze} {
		if !strings.Contains(screen, want) {
			t.Errorf("the prepare step's screen lacks %q:\n%s", want, screen)
		}
	}
	if n := len(instanceRow.FindAllString(screen, -1)); n != 3 {
		t.Errorf("the table shows %d instances before the rollout, want 3:\n%s", n, screen)
	}

	approved := map[string]bool{}
	grew := false
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		s := w.capture()
		if strings.Contains(s, "finished:") {
			break
		}
		if strings.Contains(s, "joining") || strings.Contains(s, "retiring") {
			grew = grew || len(instanceRow.FindAllString(s, -1)) == 4
		}
		if m := dialogRe.FindStringSubmatch(s); m != nil && strings.Contains(s, "y approve") {
			title := strings.TrimSpace(m[1])
			if approved[title] && !strings.Contains(s, "read the whole step first") {
				t.Fatalf("the dialog %q came back after it was approved:\n%s", title, s)
			}
			// (Its live gate values grew it after the scroll: y asked to read to the end again.)
			if strings.Contains(title, "Replace") && !strings.Contains(s, "Quorum: replacing") {
				t.Errorf("the replacement dialog %q does not show its quorum arithmetic:\n%s", title, s)
			}
			approved[title] = true
			w.approve(s)
		}
		if strings.Contains(s, "WALK-EXIT=") || strings.Contains(s, "paused in") {
			t.Fatalf("the run stopped before finishing:\n%s", s)
		}
		time.Sleep(300 * time.Millisecond)
	}
	screen = w.waitFor("the finished run", 30*time.Second, func(s string) bool { return strings.Contains(s, "finished: every node runs 1.1.0") })
	if len(approved) != 4 {
		t.Errorf("approved %d dialogs, want 4 (the group's prepare, 3 replacements): %v", len(approved), approved)
	}
	if !grew {
		t.Errorf("the table never showed the launched instance beside the three (4 rows while one joins or retires)")
	}
	if n := strings.Count(screen, "retired (it ran 1.0.0"); n != 3 {
		t.Errorf("the end box names %d retired instances, want 3:\n%s", n, screen)
	}
	if n := strings.Count(screen, "launched by this run to"); n != 3 {
		t.Errorf("the end box names %d launched instances, want 3:\n%s", n, screen)
	}
	w.keys("q")
	screen = w.waitFor("the exit", 60*time.Second, func(s string) bool { return strings.Contains(s, "WALK-EXIT=") })
	if !strings.Contains(screen, "WALK-EXIT=0") || !strings.Contains(screen, "every node runs 1.1.0") {
		t.Fatalf("the demo did not end cleanly:\n%s", screen)
	}
	if c, err := sim.Open(dir); err == nil && c.Info().State == sim.StateUp {
		t.Errorf("the demo left its cluster up")
	}
}
