package tui

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/remote"
	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
	"github.com/nwroll/nwroll/tui/style"
)

// The teatest flows drive the real console, by keypresses, against a
// simulated cluster over SSH and HTTPS. They watch the model through a
// program filter (the terminal stream is diff-rendered, so the screen is
// read from the model's View, as a person would read it).

type flow struct {
	t    *testing.T
	tm   *teatest.TestModel
	mu   sync.Mutex
	last Model
	seen bool
}

func startFlow(t *testing.T, deps Deps) *flow {
	t.Helper()
	f := &flow{t: t}
	capture := func(m tea.Model, msg tea.Msg) tea.Msg {
		if mm, ok := m.(Model); ok {
			f.mu.Lock()
			f.last, f.seen = mm, true
			f.mu.Unlock()
		}
		return msg
	}
	f.tm = teatest.NewTestModel(t, New(deps), teatest.WithInitialTermSize(120, 40),
		teatest.WithProgramOptions(tea.WithFilter(capture), tea.WithColorProfile(colorprofile.Ascii)))
	go func() { _, _ = io.Copy(io.Discard, f.tm.Output()) }()
	return f
}

func (f *flow) model() (Model, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last, f.seen
}

func (f *flow) screen() string {
	m, ok := f.model()
	if !ok {
		return ""
	}
	return ansi.Strip(m.View().Content)
}

// waitFor polls the model until cond holds.
func (f *flow) waitFor(what string, timeout time.Duration, cond func(Model) bool) Model {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m, ok := f.model(); ok && cond(m) {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	m, _ := f.model()
	f.t.Fatalf("waited %v for %s; phase %s, pause %+v, failure %+v; screen:\n%s", timeout, what, m.machine.Phase, m.machine.Pause, m.machine.Failure, f.screen())
	return Model{}
}

func (f *flow) press(k string) {
	switch k {
	case "esc":
		f.tm.Send(tea.KeyPressMsg{Code: tea.KeyEscape})
	default:
		r := []rune(k)[0]
		f.tm.Send(tea.KeyPressMsg{Code: r, Text: k})
	}
}

// approve presses y on the approval m shows, after reading it to its end
// as an operator must when the screen cuts it.
func (f *flow) approve(m Model) {
	if dialogUnseen(m) > 0 {
		f.press("G")
		f.waitFor("the end of the dialog", 20*time.Second, func(m Model) bool { return dialogUnseen(m) == 0 })
	}
	f.press("y")
}

// armed reports an approval dialog whose keys are live.
func armed(m Model) bool {
	_, ok := m.machine.AwaitingApproval()
	return ok && armedNow(m)
}

func simDeps(t *testing.T, c *sim.Cluster, version string, editInventory func(string) string) Deps {
	t.Helper()
	info := c.Info()
	invPath := info.Inventory
	if editInventory != nil {
		b, err := os.ReadFile(invPath)
		if err != nil {
			t.Fatal(err)
		}
		invPath = filepath.Join(t.TempDir(), "inventory.yaml")
		if err := os.WriteFile(invPath, []byte(editInventory(string(b))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	inv, err := inventory.Load(invPath)
	if err != nil {
		t.Fatal(err)
	}
	cat, _, err := release.LoadCatalog(filepath.Join(c.Dir(), "releases"))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := release.Load(filepath.Join(c.Dir(), "releases", version))
	if err != nil {
		t.Fatal(err)
	}
	d := remote.NewSSHDialer(remote.SSHOptions{})
	t.Cleanup(func() { d.Close(); cat.Cleanup(); rel.Cleanup() })
	return Deps{
		Env:      rollout.Env{Inventory: inv, Dialer: d, StateDir: t.TempDir(), Catalog: cat},
		Upgrade:  rollout.UpgradeOptions{PlanOptionsIn: rollout.PlanOptionsIn{Release: rel}},
		Operator: "walker@test",
	}
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestFlowFullUpgradeByKeys rolls a 3-node cluster to 1.1.0 with nothing
// but y on each dialog, then quits with q.
func TestFlowFullUpgradeByKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("a real rollout takes about a minute")
	}
	t.Parallel()
	c := simtest.Start(t, sim.Options{Nodes: 3, Warmup: time.Second})
	f := startFlow(t, simDeps(t, c, "1.1.0", nil))

	m := f.waitFor("the node table", 60*time.Second, func(m Model) bool { return m.stage == stageRunning && m.machine.HaveSnapshot })
	scr := f.screen()
	for _, want := range []string{"fw-a", "fw-b", "fw-c", style.GlyphLeader + " leader", "1.0.0 → 1.1.0"} {
		if !strings.Contains(scr, want) {
			t.Errorf("screen lacks %q:\n%s", want, scr)
		}
	}
	approvals := 0
	deadline := time.Now().Add(4 * time.Minute)
	for {
		m = f.waitFor("a dialog or the end", time.Until(deadline), func(m Model) bool { return armed(m) || m.machine.Finished || m.machine.Pause != nil })
		if m.machine.Finished || m.machine.Pause != nil {
			break
		}
		s, _ := m.machine.AwaitingApproval()
		f.approve(m)
		approvals++
		f.waitFor("the approval of "+string(s.ID), 20*time.Second, func(m Model) bool {
			st, _ := m.machine.StepByID(s.ID)
			return !st.ApprovedAt.IsZero()
		})
	}
	if m.machine.Pause != nil || m.machine.ExitCode != runbook.ExitOK {
		t.Fatalf("the run did not succeed: exit %d %s, pause %+v\n%s", m.machine.ExitCode, m.machine.Reason, m.machine.Pause, f.screen())
	}
	if approvals != 7 {
		t.Errorf("%d approvals, want 7 (lock, 3 backups, 3 upgrades)", approvals)
	}
	want := c.Info().Releases["1.1.0"].SHA256
	for _, n := range c.Info().Nodes {
		if got := fileSHA(t, n.Binary); got != want {
			t.Errorf("%s runs %s, want 1.1.0 (%s)", n.Name, got[:12], want[:12])
		}
	}
	if !strings.Contains(f.screen(), "finished: every node runs 1.1.0") {
		t.Errorf("the header does not say the run finished:\n%s", f.screen())
	}
	f.press("q")
	f.tm.WaitFinished(t, teatest.WithFinalTimeout(30*time.Second))
	final := f.tm.FinalModel(t).(Model)
	if final.ExitCode() != runbook.ExitOK || len(final.FinalMessages()) == 0 || !strings.Contains(strings.Join(final.FinalMessages(), "\n"), "journal: ") {
		t.Errorf("final: exit %d, messages %q", final.ExitCode(), final.FinalMessages())
	}
}

// TestFlowNeverReadyRolledBackWithR upgrades to 1.1.1-never-ready: the
// first upgraded node never turns ready, its gate times out, and the
// operator chooses r (roll back this node) and approves the rollback.
func TestFlowNeverReadyRolledBackWithR(t *testing.T) {
	if testing.Short() {
		t.Skip("a real rollout takes about a minute")
	}
	t.Parallel()
	c := simtest.Start(t, sim.Options{Nodes: 3, Warmup: time.Second})
	f := startFlow(t, simDeps(t, c, "1.1.1-never-ready", func(inv string) string {
		return strings.Replace(inv, "timeout: 2m", "timeout: 20s", 1)
	}))
	var upgraded string
	deadline := time.Now().Add(4 * time.Minute)
	for {
		m := f.waitFor("a dialog or the failure", time.Until(deadline), func(m Model) bool {
			return armed(m) || (m.machine.Pause != nil && m.machine.Failure != nil && !m.machine.Failure.SysdumpPending) || m.machine.Finished
		})
		if m.machine.Finished {
			t.Fatalf("finished (exit %d: %s) without a failure to choose from", m.machine.ExitCode, m.machine.Reason)
		}
		if m.machine.Pause != nil {
			break
		}
		s, _ := m.machine.AwaitingApproval()
		if s.Kind == runbook.StepUpgrade {
			upgraded = s.Node
		}
		f.approve(m)
		f.waitFor("the approval", 20*time.Second, func(m Model) bool {
			st, _ := m.machine.StepByID(s.ID)
			return !st.ApprovedAt.IsZero()
		})
	}
	m, _ := f.model()
	if m.machine.Failure.Kind != runbook.FailTimeout || m.machine.Failure.Node != upgraded {
		t.Fatalf("failure %+v, want a gate timeout on %s", m.machine.Failure, upgraded)
	}
	scr := f.screen()
	for _, want := range []string{"keep waiting", "roll this node back", "roll back every upgraded node", "abort", "sysdump:"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the failure prompt lacks %q:\n%s", want, scr)
		}
	}
	f.press("r")
	m = f.waitFor("the rollback's dialog", 30*time.Second, func(m Model) bool {
		s, ok := m.machine.AwaitingApproval()
		return ok && s.Kind == runbook.StepRollback && armedNow(m)
	})
	if s, _ := m.machine.AwaitingApproval(); s.Node != upgraded {
		t.Fatalf("rollback dialog for %s, want %s", s.Node, upgraded)
	}
	f.approve(m)
	// The only upgraded node is back: nothing is left to undo, so the run
	// ends rolled back (exit 4).
	m = f.waitFor("the rollback to finish", 2*time.Minute, func(m Model) bool { return m.machine.Finished })
	if m.machine.ExitCode != runbook.ExitRolledBack {
		t.Fatalf("finished with exit %d (%s), want %d (rolled back)", m.machine.ExitCode, m.machine.Reason, runbook.ExitRolledBack)
	}
	old := c.Info().Releases["1.0.0"].SHA256
	for _, n := range c.Info().Nodes {
		if got := fileSHA(t, n.Binary); got != old {
			t.Errorf("%s runs %s after the rollback, want 1.0.0", n.Name, got[:12])
		}
	}
	if len(m.machine.RolledBack) != 1 || m.machine.RolledBack[0] != upgraded {
		t.Errorf("rolled back %v, want [%s]", m.machine.RolledBack, upgraded)
	}
	f.press("q")
	f.tm.WaitFinished(t, teatest.WithFinalTimeout(30*time.Second))
	final := f.tm.FinalModel(t).(Model)
	if final.ExitCode() != runbook.ExitRolledBack {
		t.Errorf("the console exited %d, want %d: %q", final.ExitCode(), runbook.ExitRolledBack, final.FinalMessages())
	}
}
