package executor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/remote"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// chainRemote answers every command as a chain whose segments all succeed,
// and notes, for each command, how many intents the journal held then.
type chainRemote struct {
	journal *journal.Journal
	refuse  string // when set, the command prints it on stderr and exits 1, running nothing (sudo refused)
	mu      sync.Mutex
	intents []int // per command run
}

func (r *chainRemote) Run(_ context.Context, cmd remote.Command, onLine func(remote.Stream, string)) (remote.Result, error) {
	entries, err := journal.Read(r.journal.Path())
	if err != nil {
		return remote.Result{}, err
	}
	n := 0
	for _, e := range entries {
		if e.Kind == journal.Intent {
			n++
		}
	}
	r.mu.Lock()
	r.intents = append(r.intents, n)
	r.mu.Unlock()
	if r.refuse != "" {
		onLine(remote.Stderr, r.refuse)
		return remote.Result{ExitCode: 1}, nil
	}
	script := strings.Join(cmd.Argv, " ")
	for i := 0; strings.Contains(script, "nwroll-chain: begin "+strconv.Itoa(i)); i++ {
		onLine(remote.Stdout, "nwroll-chain: begin "+strconv.Itoa(i))
		onLine(remote.Stdout, "nwroll-chain: end "+strconv.Itoa(i)+" 0")
	}
	return remote.Result{}, nil
}

func (r *chainRemote) Upload(context.Context, string, string, os.FileMode, string, func(int64, int64)) error {
	return errors.New("not in this test")
}
func (r *chainRemote) UploadPrivileged(context.Context, string, string, os.FileMode, string, func(int64, int64)) error {
	return errors.New("not in this test")
}
func (r *chainRemote) Download(context.Context, string, string, os.FileMode, func(int64, int64)) error {
	return errors.New("not in this test")
}
func (r *chainRemote) Close() error { return nil }

type chainDialer struct{ r *chainRemote }

func (d chainDialer) Dial(context.Context, inventory.Node) (remote.Remote, error) { return d.r, nil }

// restartBatch is what the machine emits for a restart of fw-a: each
// operation's intent, then the operation, as a chain of four.
func restartBatch() []runbook.Effect {
	var effs []runbook.Effect
	for i, op := range []runbook.NodeOp{runbook.OpStop, runbook.OpKeepPrev, runbook.OpSwap, runbook.OpStart} {
		id := runbook.EffectID(10 + 2*i)
		a := runbook.NodeAction{EffectMeta: runbook.EffectMeta{ID: id + 1, Step: "upgrade/fw-a"}, Node: "fw-a", Op: op, SHA256: strings.Repeat("ab", 32), ChainPos: i, ChainLen: 4}
		effs = append(effs, runbook.Record{EffectMeta: runbook.EffectMeta{ID: id, Step: "upgrade/fw-a"}, Type: runbook.RecordIntent, For: a.ID, Node: "fw-a", Op: a.Kind()}, a)
	}
	return effs
}

func newChainDriver(t *testing.T) (*Driver, *chainRemote, *journal.Journal, *[]runbook.EffectID) {
	t.Helper()
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse("inventory.yaml", []byte("cluster: lab\nssh:\n  known_hosts: "+kh+"\nnodes:\n  - name: fw-a\n    host: 10.0.1.11\n"), inventory.Options{SSHConfig: "none"})
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(dir, "lab")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	r := &chainRemote{journal: j}
	x, err := New(Config{Inventory: inv, Dialer: chainDialer{r}, StateDir: dir, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	var started []runbook.EffectID
	d := NewDriver(context.Background(), x, DriverHooks{OnStart: func(e runbook.Effect) { started = append(started, e.Meta().ID) }})
	t.Cleanup(d.Close)
	return d, r, j, &started
}

func answers(t *testing.T, d *Driver, n int) []runbook.EffectResult {
	t.Helper()
	var out []runbook.EffectResult
	for len(out) < n {
		select {
		case ev := <-d.Events():
			out = append(out, ev.(runbook.EffectResult))
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d answers", len(out), n)
		}
	}
	return out
}

// The driver runs a chain as one command, once every intent of it is in
// the journal, and answers its operations in their order.
func TestDriverRunsAChainAfterItsIntents(t *testing.T) {
	d, r, _, started := newChainDriver(t)
	d.Dispatch(1, restartBatch())
	got := answers(t, d, 4)
	for i, a := range got {
		if a.ID != runbook.EffectID(11+2*i) || a.Err != nil {
			t.Errorf("answer %d: %+v, want effect %d ok", i, a, 11+2*i)
		}
	}
	if len(r.intents) != 1 || r.intents[0] != 4 {
		t.Fatalf("commands run with the journal holding %v intents, want one command after all 4", r.intents)
	}
	if len(*started) != 4 {
		t.Errorf("started %v, want the chain's four", *started)
	}
}

// When the journal cannot be written, no operation of the chain runs: each
// is answered "not run", in order, and none is reported started.
func TestDriverChainWithoutAJournalRunsNothing(t *testing.T) {
	d, r, j, started := newChainDriver(t)
	j.Close()
	d.Dispatch(1, restartBatch())
	for i, a := range answers(t, d, 4) {
		if a.ID != runbook.EffectID(11+2*i) || a.Err == nil || !strings.Contains(a.Err.Error(), "journal cannot be written") {
			t.Errorf("answer %d: %+v, want effect %d not run", i, a, 11+2*i)
		}
	}
	if len(r.intents) != 0 || len(*started) != 0 {
		t.Errorf("commands %v, started %v: want none", r.intents, *started)
	}
}

// A command sudo refuses runs none of the chain: every operation is
// answered with sudo's own words, naming the node and the operations.
func TestPerformChainRefusedBySudo(t *testing.T) {
	d, r, _, _ := newChainDriver(t)
	r.refuse = "sudo: a password is required"
	var acts []runbook.NodeAction
	for _, e := range restartBatch() {
		if a, ok := e.(runbook.NodeAction); ok {
			acts = append(acts, a)
		}
	}
	for i, ev := range d.x.PerformChain(context.Background(), acts) {
		a := ev.(runbook.EffectResult)
		if a.ID != acts[i].ID || a.Err == nil || a.Err.Error() != "stop, keep-prev, swap, start on fw-a exited 1: sudo: a password is required" {
			t.Errorf("answer %d: %+v", i, a)
		}
	}
}
