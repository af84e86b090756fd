package rollout

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/internal/schemacheck"
	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// installHotfix puts a build that matches no release manifest on node: the
// 1.0.0 launcher with one more comment line, so it still runs as 1.0.0.
// The swap is atomic, as an operator's hotfix would be. It returns the
// build's sha256.
func (e *e2e) installHotfix(node string) string {
	e.t.Helper()
	body, err := os.ReadFile(e.c.Info().Releases["1.0.0"].Binary)
	if err != nil {
		e.t.Fatal(err)
	}
	body = append(body, []byte("# hotfix build, from no release\n")...)
	for _, n := range e.c.Info().Nodes {
		if n.Name != node {
			continue
		}
		tmp := filepath.Join(filepath.Dir(n.Binary), ".neuwerk.hotfix")
		if err := os.WriteFile(tmp, body, 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.Rename(tmp, n.Binary); err != nil {
			e.t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		return hex.EncodeToString(sum[:])
	}
	e.t.Fatalf("no node %s", node)
	return ""
}

// A node on a hotfix build: upgrade --yes refuses before anything changes,
// warning as plan does; with --allow-unknown-build it proceeds, says so,
// and the hotfix becomes that node's .prev.
func TestE2EUnknownBuildRefusedThenAllowed(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 2*time.Second, 30*time.Second)
	ctx := context.Background()
	node := e.c.Info().Nodes[1].Name
	hotfix := e.installHotfix(node)
	short := runbook.ShortSHA(hotfix)
	warning := node + " runs unknown (sha256 " + short + "); a rollback would restore that same build"
	e.waitHealthy(ctx, 30*time.Second)
	before := e.nodeState(ctx)

	// Refused: exit 3, the node, the sha and the fix named; nothing changed.
	var jsonLog syncBuffer
	jsonLog.t = t
	env := e.env
	env.Out, env.JSON = &jsonLog, true
	code, err := Upgrade(ctx, env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: e.release("1.1.0"), Backup: runbook.BackupLive}})
	if code != runbook.ExitRefused || ExitCodeOf(err) != runbook.ExitRefused {
		t.Fatalf("upgrade --yes over %s's hotfix: exit %d (%v), want %d", node, code, err, runbook.ExitRefused)
	}
	for _, want := range []string{node + " runs an unknown build (sha256 " + short + ")", "a rollback would restore that same build",
		"--allow-unknown-build", "--releases"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not say %q", err, want)
		}
	}
	if got := e.nodeState(ctx); got != before {
		t.Errorf("a refused run changed the nodes:\nbefore:\n%s\nafter:\n%s", before, got)
	}
	for _, n := range e.c.Info().Nodes {
		if _, err := os.Stat(executor.LockPathForDataRoot(n.DataRoot)); !os.IsNotExist(err) {
			t.Errorf("%s: a refused run left its lock", n.Name)
		}
	}
	for _, en := range e.journal() {
		if en.Kind == journal.Intent && en.Op != runbook.RecordOpRun || en.Kind == journal.Approval {
			t.Errorf("a refused run journaled %s %s on %s", en.Kind, en.Op, en.Node)
		}
	}
	schemacheck.ValidateLines(t, []byte(jsonLog.String()))
	warned := false
	sc := bufio.NewScanner(strings.NewReader(jsonLog.String()))
	for sc.Scan() {
		var l LogEntry
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("--json line %q: %v", sc.Text(), err)
		}
		warned = warned || (l.Type == "note" && l.Op == "warning" && l.Detail == warning)
	}
	if !warned {
		t.Errorf("the --json log lacks plan's warning %q:\n%s", warning, jsonLog.String())
	}

	// Allowed: the same run proceeds, the log and the journal say who
	// accepted the build, and the hotfix is the node's .prev.
	code, err = Upgrade(ctx, e.env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: e.release("1.1.0"), Backup: runbook.BackupLive, AllowUnknownBuild: true}})
	if code != runbook.ExitOK {
		t.Fatalf("upgrade --yes --allow-unknown-build: exit %d (%v)", code, err)
	}
	log := e.log.String()
	if !strings.Contains(log, " cluster warning: "+warning+"\n") {
		t.Errorf("the log lacks plan's warning %q", warning)
	}
	if !strings.Contains(log, "approved: Accept "+node+"'s unknown build (sha256 "+short+") (approved by ") ||
		!strings.Contains(log, "(--yes) with --allow-unknown-build)") {
		t.Errorf("the log does not say --allow-unknown-build accepted %s's build", node)
	}
	var approval journal.Entry
	var record *journal.RunRecord
	for _, en := range e.journal() {
		if en.Kind == journal.Approval && en.StepID == "unknown-build" {
			approval = en
		}
		if en.Run != nil {
			record = en.Run
		}
	}
	if !strings.HasSuffix(approval.ApprovedBy, "(--yes) with --allow-unknown-build") || !strings.HasPrefix(approval.Detail, "Accept "+node+"'s unknown build") {
		t.Errorf("the journal's approval of the unknown build: %+v", approval)
	}
	if record == nil || !record.AllowUnknownBuild {
		t.Errorf("the run record does not keep --allow-unknown-build for resume: %+v", record)
	}
	for _, n := range e.c.Info().Nodes {
		if got := fileSHA(t, n.Binary); got != e.releaseSHA("1.1.0") {
			t.Errorf("%s runs %s, want 1.1.0", n.Name, runbook.ShortSHA(got))
		}
		if n.Name == node {
			if got := fileSHA(t, n.Binary+".prev"); got != hotfix {
				t.Errorf("%s.prev is %s, want the hotfix %s", n.Name, runbook.ShortSHA(got), short)
			}
		}
	}
}
