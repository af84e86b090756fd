package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nwroll/nwroll/internal/schemacheck"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// hookReceiver is a local webhook: it keeps every body it is POSTed.
type hookReceiver struct {
	mu     sync.Mutex
	bodies [][]byte
	srv    *httptest.Server
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// take returns the bodies received so far and forgets them.
func (h *hookReceiver) take() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.bodies
	h.bodies = nil
	return out
}

// lastEvent decodes the last line of a --json log.
func lastEvent(t *testing.T, out []byte) LogEntry {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var l LogEntry
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &l); err != nil || l.Summary == nil {
		t.Fatalf("the last line is not a summary event (%v): %s", err, lines[len(lines)-1])
	}
	return l
}

// An orchestrator's day, from the JSON alone: plan --json is the review
// artifact; upgrade --yes --pause-before leader stops before the leader
// (exit 5) with every node running and the lock kept, notifying a webhook
// and a command of each step; runs --json shows the run paused; resume
// --yes finishes it. Every document validates against its schema.
func TestE2EPauseNotifyResume(t *testing.T) {
	t.Parallel()
	e, bin, state, inv, rel := startCLIE2E(t)
	ctx := context.Background()
	leader := e.leaderName(ctx)

	// plan --json: the pause sits right before the leader's upgrade.
	cmd := exec.Command(bin, "plan", "-i", inv, "--release", rel, "--pause-before", "leader", "--json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "XDG_STATE_HOME=" + state, "NWROLL_SSH_CONFIG=none", "SSH_AUTH_SOCK="}
	planOut, err := cmd.Output()
	if err != nil {
		t.Fatalf("plan --json: %v", err)
	}
	schemacheck.Validate(t, "plan", planOut)
	var plan PlanDoc
	if err := json.Unmarshal(planOut, &plan); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range plan.Steps {
		ids = append(ids, s.ID)
	}
	at := slices.Index(ids, "upgrade/"+leader)
	if at < 1 || ids[at-1] != "pause-before-leader" || !plan.Steps[at-1].Approval || at != len(ids)-3 {
		t.Fatalf("plan steps %v: want pause-before-leader right before upgrade/%s, the last upgrade", ids, leader)
	}
	if !slices.Equal(plan.Options.PauseBefore, []string{"leader"}) || plan.Refusal != "" {
		t.Fatalf("plan options %+v, refusal %q", plan.Options, plan.Refusal)
	}

	hook := newHookReceiver(t)
	cmdLog := filepath.Join(t.TempDir(), "events.jsonl")
	// A receiver that is down: reported, never fatal, its secret path
	// never printed.
	dead := "http://127.0.0.1:1/services/T0/B0/SECRETPATH"
	_, code, stderr := e.cliRun(bin, state, nil, "upgrade", "-i", inv, "--release", rel, "--yes", "--json", "--pause-before", "leader",
		"--notify", hook.srv.URL+"/hook", "--notify", dead, "--notify-cmd", "cat >> "+cmdLog)
	if code != runbook.ExitPaused {
		t.Fatalf("upgrade --pause-before leader: exit %d, want %d\n%s", code, runbook.ExitPaused, stderr)
	}
	if !strings.Contains(stderr, "nwroll: notify:") || strings.Contains(stderr, "SECRETPATH") {
		t.Errorf("the dead receiver: stderr %q: want it reported, its path redacted", stderr)
	}
	lines := schemacheck.ValidateLines(t, e.lastOut)
	sum := lastEvent(t, e.lastOut).Summary
	// The pause holds the run before whoever leads when its turn comes (a
	// quiesced backup may move the leadership): that node, still leading
	// in the quiet cluster, is the one left on 1.0.0.
	var paused []string
	for _, l := range lines {
		if l["type"] == "event" && l["op"] == "paused" {
			paused = append(paused, l["node"].(string))
		}
	}
	if len(paused) != 1 {
		t.Fatalf("paused events for %v: want one", paused)
	}
	if leader = e.leaderName(ctx); paused[0] != leader {
		t.Fatalf("paused before %s, and %s leads", paused[0], leader)
	}
	if sum.Outcome != string(journal.OutcomePaused) || sum.ExitCode != runbook.ExitPaused || sum.Retry != "resume-when-approved" ||
		!strings.HasPrefix(sum.Next, "nwroll resume -i "+inv+" --run "+sum.Run) || sum.Command != "upgrade" || sum.Target != "1.1.0" {
		t.Fatalf("summary %+v", sum)
	}
	for _, n := range sum.Nodes {
		want := "1.1.0"
		if n.Name == leader {
			want = "1.0.0"
		}
		if n.Release != want || n.MayBeStopped {
			t.Errorf("summary node %+v: want release %s, running", n, want)
		}
	}
	if len(sum.Backups) != 3 {
		t.Errorf("summary backups %+v: want one per node", sum.Backups)
	}
	for _, l := range lines {
		if l["run"] != nil && l["run"] != sum.Run {
			t.Fatalf("event of another run: %v", l)
		}
	}
	// The cluster is healthy, the leader untouched, the lock held for resume.
	e.waitHealthy(ctx, 30*time.Second)
	for name, sha := range e.binaries() {
		if want := map[bool]string{true: "1.0.0", false: "1.1.0"}[name == leader]; sha != e.releaseSHA(want) {
			t.Errorf("%s runs sha256 %s, want %s's", name, runbook.ShortSHA(sha), want)
		}
	}
	// status says whose the lock is and what continues it, not "gone".
	st := exec.Command(bin, "status", "-i", inv, "--json")
	st.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "XDG_STATE_HOME=" + state, "NWROLL_SSH_CONFIG=none", "SSH_AUTH_SOCK="}
	stOut, err := st.Output()
	if err != nil {
		t.Fatalf("status --json at the pause: %v\n%s", err, stOut)
	}
	schemacheck.Validate(t, "status", stOut)
	var rep StatusReport
	if err := json.Unmarshal(stOut, &rep); err != nil {
		t.Fatal(err)
	}
	for _, n := range rep.Nodes {
		if n.LockRun != sum.Run || n.LockRunOutcome != string(journal.OutcomePaused) {
			t.Errorf("status at the pause: %s's lock %q, run %q, outcome %q", n.Name, n.Lock, n.LockRun, n.LockRunOutcome)
		}
	}
	var text bytes.Buffer
	RenderStatus(&text, rep)
	if !strings.Contains(text.String(), "paused in this host's journal: `nwroll resume` continues it") || strings.Contains(text.String(), "--break-lock") {
		t.Errorf("status at the pause:\n%s", text.String())
	}
	runs := e.runsJSON(bin, state, inv)
	if len(runs) != 1 || runs[0].Outcome != journal.OutcomePaused || !runs[0].Unfinished || !runs[0].LockHeld || runs[0].ID != sum.Run {
		t.Fatalf("runs --json: %+v", runs)
	}

	// The webhook and the command got the notable events, as --json
	// prints them: step starts, approvals, the pause, the summary.
	got := hook.take()
	kinds := map[string]int{}
	var seqs []uint64
	for _, b := range got {
		schemacheck.Validate(t, "event", b)
		var l LogEntry
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		if !Notable(l) {
			t.Errorf("notified an event that is not notable: %s", b)
		}
		kinds[l.Type+" "+l.Op]++
		seqs = append(seqs, l.Seq)
		assertNoToken(t, string(b))
	}
	if !slices.IsSorted(seqs) {
		t.Errorf("notifications out of order: seq %v", seqs)
	}
	for _, k := range []string{"event step-started", "approval approved", "event paused", "finish finish", "summary summary"} {
		if kinds[k] == 0 {
			t.Errorf("no %q notification; got %v", k, kinds)
		}
	}
	if kinds["event paused"] != 1 || kinds["summary summary"] != 1 {
		t.Errorf("notifications %v: want one pause and one summary", kinds)
	}
	fromCmd, err := os.ReadFile(cmdLog)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(fromCmd), "\n"); n != len(got) {
		t.Errorf("--notify-cmd got %d events, the webhook %d", n, len(got))
	}

	// resume is the approval: it goes on with the leader, without pausing again.
	_, code, stderr = e.cliRun(bin, state, nil, "resume", "-i", inv, "--yes", "--json", "--notify", hook.srv.URL+"/hook")
	if code != runbook.ExitOK {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	schemacheck.ValidateLines(t, e.lastOut)
	sum2 := lastEvent(t, e.lastOut).Summary
	if sum2.Outcome != string(journal.OutcomeFinished) || sum2.Run != sum.Run || sum2.Command != "resume" || sum2.Retry != "none" || sum2.Next != "" {
		t.Fatalf("resumed summary %+v", sum2)
	}
	for _, n := range sum2.Nodes {
		if n.Release != "1.1.0" {
			t.Errorf("after resume: %+v", n)
		}
	}
	for _, b := range hook.take() {
		var l LogEntry
		_ = json.Unmarshal(b, &l)
		if l.Op == "paused" {
			t.Errorf("the resumed run paused again: %s", b)
		}
	}
	e.waitHealthy(ctx, 30*time.Second)
}

// A run that cannot start still ends its JSON with a summary event: a
// bad --pause-before is a usage error (exit 2) that changes nothing.
func TestE2EJSONSummaryWhenRefused(t *testing.T) {
	t.Parallel()
	e, bin, state, inv, rel := startCLIE2E(t)
	before := e.nodeState(context.Background())
	_, code, stderr := e.cliRun(bin, state, nil, "upgrade", "-i", inv, "--release", rel, "--yes", "--json", "--pause-before", "fw-z")
	if code != runbook.ExitUsage || !strings.Contains(stderr, `--pause-before "fw-z": name a node`) {
		t.Fatalf("--pause-before fw-z: exit %d, stderr %q", code, stderr)
	}
	schemacheck.ValidateLines(t, e.lastOut)
	sum := lastEvent(t, e.lastOut).Summary
	if sum.Outcome != "invalid" || sum.ExitCode != runbook.ExitUsage || sum.Retry != "fix-input" || !strings.Contains(sum.Error, "fw-z") {
		t.Fatalf("summary %+v", sum)
	}
	if e.nodeState(context.Background()) != before {
		t.Error("a refused run changed the nodes")
	}
	if _, err := os.Stat(filepath.Join(state, "nwroll")); !os.IsNotExist(err) {
		t.Errorf("a refused run left state behind: %v", err)
	}
	_, code, _ = e.cliRun(bin, state, nil, "upgrade", "-i", inv, "--release", rel, "--yes", "--json", "--notify", "hooks.example.com/x")
	if code != runbook.ExitUsage {
		t.Fatalf("--notify without a scheme: exit %d", code)
	}
	schemacheck.ValidateLines(t, e.lastOut)
}
