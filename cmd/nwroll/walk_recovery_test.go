package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nwroll/nwroll/internal/schemacheck"
	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/sim"
)

// TestTmuxRecoveryWalk is the operator's way back after a crash, walked
// with the real binary in tmux: the console is SIGKILLed between a
// follower's stop and its start; the console opened again names the
// unfinished run and offers its ways out (looking only shows the stopped
// node, changes nothing and exits 0); `nwroll resume` without --yes opens
// the console on the rebuilt run, whose first approval is the stopped
// node's recovery, and y presses finish the rollout; `nwroll rollback`
// in the console takes the cluster back to 1.0.0, newest upgrade first;
// `nwroll runs --json` tells the story.
func TestTmuxRecoveryWalk(t *testing.T) {
	tmp, bin := tmuxWalkSetup(t, "the recovery walk takes a few minutes")
	dir, state := filepath.Join(tmp, "cluster"), filepath.Join(tmp, "state")
	if out, err := exec.Command(bin, "sim", "up", "--dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("sim up: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(bin, "sim", "down", "--dir", dir).Run() })
	inv, rel := filepath.Join(dir, "inventory.yaml"), filepath.Join(dir, "releases", "1.1.0")

	w := &tmuxWalk{t: t, session: fmt.Sprintf("nwroll-recovery-%d", os.Getpid()), socket: filepath.Join(tmp, "tmux.sock")}
	env := "env TERM=xterm-256color XDG_STATE_HOME=" + state + " "
	// Each step's exit code goes to the screen (which the next console
	// takes over two seconds later); the killed console's alternate
	// screen is left by hand, as a shell would after a crash.
	script := strings.Join([]string{
		env + bin + " console -i " + inv + " --release " + rel, `printf '\033[?1049l'; stty sane; echo STEP1=$?; sleep 2`,
		env + bin + " console -i " + inv + " --release " + rel, "echo STEP2=$?; sleep 2",
		env + bin + " resume -i " + inv, "echo STEP3=$?; sleep 2",
		env + bin + " rollback -i " + inv, "echo STEP4=$?",
		"sleep 600"}, "; ")
	w.tmux("new-session", "-d", "-s", w.session, "-x", "120", "-y", "40", "sh", "-c", script)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", w.socket, "kill-server").Run() })

	// 1. Approve up to the first follower's upgrade; approve it, and
	// SIGKILL the console as soon as the journal says the node stopped,
	// before it is started again (its .prev copy and swap come between).
	w.approveUntil(t, 4*time.Minute, func() bool {
		m := dialogRe.FindStringSubmatch(w.capture())
		return m != nil && strings.HasPrefix(strings.TrimSpace(m[1]), "Upgrade ")
	})
	pids, err := exec.Command("pgrep", "-f", "^"+regexp.QuoteMeta(bin)+" console").Output()
	if err != nil {
		t.Fatalf("pgrep: the console is not running: %v", err)
	}
	w.approve(w.waitFor("the upgrade's dialog armed", 10*time.Second, func(s string) bool { return strings.Contains(s, "y approve") }))
	deadline := time.Now().Add(2 * time.Minute)
	for upgradeStopped(state) == "" && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	for _, f := range strings.Fields(string(pids)) {
		var pid int
		fmt.Sscan(f, &pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	node := upgradeStopped(state)
	if node == "" {
		t.Fatal("the kill did not land between the stop and the start")
	}
	w.waitFor("the killed console's end", 30*time.Second, func(s string) bool { return strings.Contains(s, "STEP1=") })
	// The restart is one command on the node (stop, keep .prev, swap,
	// start): a killed client's session is hung up, which cuts it, but on
	// a loaded machine the chain can finish first. Then the node is put
	// back where a cut chain leaves it, stopped on the new build, so the
	// walk always recovers a stopped node.
	stoppedByHand(t, dir, node)

	// 2. The console again: it names the unfinished run at once and
	// starts nothing; looking shows the stopped node's recovery first.
	screen := w.waitFor("the unfinished run's question", 90*time.Second, func(s string) bool {
		return strings.Contains(s, "This cluster has an unfinished rollout")
	})
	runs := runsJSON(t, bin, state, inv)
	if len(runs) != 1 || !runs[0].Unfinished || runs[0].Outcome != journal.OutcomeInterrupted {
		t.Fatalf("runs --json after the kill: %+v", runs)
	}
	id := runs[0].ID
	for _, want := range []string{"Run " + id, node + " stopped", "c continue the run", "R roll it back", "l look only"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the unfinished run's question lacks %q:\n%s", want, screen)
		}
	}
	w.keys("l")
	screen = w.waitFor("the rebuilt run, looked at", 90*time.Second, func(s string) bool {
		return strings.Contains(s, "looking only") && strings.Contains(s, "Recover "+node+": start it on")
	})
	if !regexp.MustCompile(node + `\s.*1\.1\.0`).MatchString(screen) {
		t.Errorf("looking only: %s is not shown on 1.1.0 (its swap was done):\n%s", node, screen)
	}
	w.keys("q")
	screen = w.waitFor("the look's end", 30*time.Second, func(s string) bool { return strings.Contains(s, "STEP2=") })
	if !strings.Contains(screen, "STEP2=0") || !strings.Contains(screen, "nothing changed on any node; run "+id+" is still unfinished") {
		t.Errorf("looking only did not end with exit 0 and the way out:\n%s", screen)
	}

	// 3. `nwroll resume` without --yes: the console on the rebuilt run;
	// its first approval is the stopped node's recovery.
	screen = w.waitFor("the recovery's approval", 90*time.Second, func(s string) bool { return dialogRe.MatchString(s) })
	if m := dialogRe.FindStringSubmatch(screen); !strings.HasPrefix(strings.TrimSpace(m[1]), "Recover "+node+": start it on") {
		t.Fatalf("the first approval of the resumed run is %q, want %s's recovery:\n%s", m[1], node, screen)
	}
	w.approveUntil(t, 5*time.Minute, func() bool { return strings.Contains(w.capture(), "finished: every node runs 1.1.0") })
	w.keys("q")
	w.waitFor("the resume's end", 30*time.Second, func(s string) bool { return strings.Contains(s, "STEP3=0") })

	// 4. `nwroll rollback` in the console: newest upgrade first.
	w.approveUntil(t, 5*time.Minute, func() bool { return strings.Contains(w.capture(), "finished: rolled back:") })
	screen = w.capture()
	for _, n := range []string{"fw-a", "fw-b", "fw-c"} {
		if !regexp.MustCompile(n + `\s.*1\.0\.0.*rolled back`).MatchString(screen) {
			t.Errorf("%s is not shown rolled back to 1.0.0:\n%s", n, screen)
		}
	}
	w.keys("q")
	w.waitFor("the rollback's end", 30*time.Second, func(s string) bool { return strings.Contains(s, "STEP4=0") })

	runs = runsJSON(t, bin, state, inv)
	if len(runs) != 1 || runs[0].ID != id || runs[0].Outcome != journal.OutcomeRolledBack || runs[0].Unfinished {
		t.Fatalf("runs --json at the end: %+v", runs)
	}
	order := runs[0].Upgraded
	if len(order) != 0 {
		t.Errorf("nodes still upgraded after the rollback: %v", order)
	}
	if c, err := sim.Open(dir); err != nil || c.Info().State != sim.StateUp {
		t.Errorf("the cluster is not up after the walk: %v", err)
	}
}

// approve presses y on the approval on screen s, after scrolling it to
// its end when the screen cuts it (y waits until the whole step was seen).
func (w *tmuxWalk) approve(s string) {
	w.t.Helper()
	if strings.Contains(s, "more below") {
		w.keys("G")
		w.waitFor("the dialog scrolled to its end", 10*time.Second, func(s string) bool { return !strings.Contains(s, "more below") })
	}
	w.keys("y")
}

// approveUntil presses y on each armed approval until done holds.
func (w *tmuxWalk) approveUntil(t *testing.T, timeout time.Duration, done func() bool) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var s string
	for time.Now().Before(deadline) {
		if done() {
			return s
		}
		s = w.capture()
		if strings.Contains(s, "y approve") {
			w.approve(s)
			time.Sleep(150 * time.Millisecond)
			continue
		}
		if strings.Contains(s, "paused in") {
			t.Fatalf("the run stopped:\n%s", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("waited %v; the screen:\n%s", timeout, s)
	return s
}

// upgradeStopped is the node an upgrade step stopped and has not started
// again, per the newest run's journal, or "".
// stoppedByHand stops node if it runs: the state a restart cut between
// its swap and its start leaves.
func stoppedByHand(t *testing.T, dir, node string) {
	t.Helper()
	c, err := sim.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svcs, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		if s.Node == node && (s.ActiveState == "active" || s.ActiveState == "activating") {
			t.Logf("the restart of %s finished before the kill's hangup reached it: stopping it by hand", node)
			if err := c.Stop(node); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func upgradeStopped(state string) string {
	files, _ := filepath.Glob(filepath.Join(state, "nwroll", "*", "run-*.jsonl"))
	if len(files) == 0 {
		return ""
	}
	entries, _ := journal.Read(files[len(files)-1])
	node := ""
	for _, e := range entries {
		if !strings.HasPrefix(e.StepID, "upgrade/") || e.Node == "" {
			continue
		}
		switch {
		case e.Kind == journal.Outcome && e.Op == "stop" && e.OK:
			node = e.Node
		case e.Kind == journal.Intent && e.Op == "start":
			node = ""
		}
	}
	return node
}

func runsJSON(t *testing.T, bin, state, inv string) []journal.RunSummary {
	t.Helper()
	cmd := exec.Command(bin, "runs", "-i", inv, "--json")
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nwroll runs --json: %v", err)
	}
	schemacheck.Validate(t, "runs", out)
	var rep rollout.RunsReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("nwroll runs --json: %v\n%s", err, out)
	}
	return rep.Runs
}
