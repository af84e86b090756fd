package executor

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/rollout/runbook"
)

// The chain's one command runs its segments in order, says of each whether
// it ended and how, and stops at the first that fails.
func TestChainScriptStopsAtTheFirstFailure(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "neuwerk")
	for p, s := range map[string]string{bin: "old", bin + ".new": "new"} {
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	with := func(script string, args ...string) string { return "set -- " + strings.Join(args, " ") + "\n" + script }
	segs := []segment{
		{name: "stop", script: "echo stopping; true"},
		{name: "keep-prev", script: with(keepPrevScript, bin)},
		{name: "swap", script: with(renameScript, bin, ".new", strings.Repeat("0", 64))}, // the wrong sha256: refused
		{name: "start", script: "echo started > " + filepath.Join(dir, "started")},
	}
	out, err := exec.Command("/bin/sh", "-c", chainScript(segs)).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	res := parseChain(string(out), len(segs))
	if !res[0].ended || res[0].code != 0 || strings.Join(res[0].lines, "|") != "stopping" {
		t.Errorf("stop: %+v", res[0])
	}
	if !res[1].ended || res[1].code != 0 {
		t.Errorf("keep-prev: %+v", res[1])
	}
	if !res[2].ended || res[2].code != 65 || !strings.Contains(strings.Join(res[2].lines, "\n"), "refusing to move it over") {
		t.Errorf("swap: %+v", res[2])
	}
	if res[3].ended || len(res[3].lines) != 0 {
		t.Errorf("start ran after the failed swap: %+v", res[3])
	}
	if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
		t.Error("the start segment ran")
	}
	if b, _ := os.ReadFile(bin + ".prev"); string(b) != "old" {
		t.Errorf(".prev holds %q, want the old binary", b)
	}
	if b, _ := os.ReadFile(bin); string(b) != "old" {
		t.Errorf("the binary is %q after a refused swap", b)
	}
}

// The driver collects a chain from its batch and runs it once all of it
// is in; an action whose intent could not be journaled, and every one
// after it, does not run.
func TestDriverChainCollects(t *testing.T) {
	act := func(pos int) runbook.NodeAction {
		return runbook.NodeAction{EffectMeta: runbook.EffectMeta{ID: runbook.EffectID(10 + pos)}, Node: "fw-b", Op: runbook.OpStop, ChainPos: pos, ChainLen: 4}
	}
	var c chain
	c.add(act(0), nil)
	c.add(act(1), nil)
	if c.complete() {
		t.Fatal("complete with two of four")
	}
	broken := errors.New("not run: the journal cannot be written")
	c.add(act(2), broken)
	c.add(act(3), nil)
	if !c.complete() || len(c.run) != 2 || len(c.notRun) != 2 || c.why != broken {
		t.Fatalf("chain %+v", c)
	}
	c.add(act(0), nil) // a new chain starts afresh
	if c.complete() || len(c.run) != 1 || c.why != nil {
		t.Fatalf("a new chain %+v", c)
	}
}
