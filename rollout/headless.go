package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/remote"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The headless commands (design §1): status, plan, upgrade --yes, resume,
// rollback and sysdump, as functions the CLI wires to flags and the tests
// call in-process. Each returns the exit code it deserves with an error
// worth one line; nothing here exits or prints a stack.

// Env is what every headless command needs.
type Env struct {
	Inventory *inventory.Inventory
	Dialer    remote.Dialer
	// StateDir is $XDG_STATE_HOME/nwroll (journal, backups, sysdumps).
	StateDir string
	// Catalog identifies running builds (a releases directory).
	Catalog release.Catalog
	// Token is an admin token from $NEUWERK_TOKEN (inventory token_env);
	// "" mints one over SSH.
	Token api.Token

	Out  io.Writer // the log (upgrade, resume, rollback) or the table (status, plan)
	JSON bool
	// Tick is the runner's clock (default 1s).
	Tick time.Duration
	// OnMachine sees the machine after every event (tests).
	OnMachine func(runbook.Machine)
}

// ExitCodeOf is the exit code an error from this file deserves.
func ExitCodeOf(err error) int {
	var ee *runbook.ExitError
	var re *release.Error
	var ie *inventory.Error
	switch {
	case err == nil:
		return runbook.ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &re), errors.As(err, &ie):
		return runbook.ExitUsage
	}
	return runbook.ExitFailed
}

func coded(code int, format string, args ...any) error {
	return &runbook.ExitError{Code: code, Err: fmt.Errorf(format, args...)}
}

func (env Env) out() io.Writer {
	if env.Out == nil {
		return io.Discard
	}
	return env.Out
}

// logLine writes one note line to the log, as text or JSON.
func (env Env) logLine(op, detail string) {
	l := LogEntry{TS: time.Now(), Type: "note", Op: op, Detail: detail}
	if env.JSON {
		b, _ := json.Marshal(l)
		fmt.Fprintln(env.out(), string(b))
		return
	}
	fmt.Fprintln(env.out(), l.Text())
}

func (env Env) executor(rel *release.Release, known []runbook.BuildRef) (*executor.Executor, error) {
	return executor.New(executor.Config{
		Inventory: env.Inventory, Dialer: env.Dialer, Release: rel, Catalog: env.Catalog, Known: known,
		StateDir: env.StateDir, Token: env.Token, TokenSource: tokenSourceOf(env),
	})
}

func tokenSourceOf(env Env) string {
	if env.Token == "" {
		return ""
	}
	name := env.Inventory.API.TokenEnv
	if name == "" {
		name = inventory.DefaultTokenEnv
	}
	return "$" + name
}

// PlanOptionsFor takes the operator's choices, and the gate timings, paths
// and unit from the inventory.
func PlanOptionsFor(inv *inventory.Inventory, o PlanOptionsIn, tokenGiven bool) runbook.PlanOptions {
	return runbook.PlanOptions{
		Backup: o.Backup, BackupSet: o.BackupSet, Bake: o.Bake,
		Window: inv.Gates.Stabilisation, GateTimeout: inv.Gates.Timeout,
		TokenFromEnv: tokenGiven, CAFromFile: inv.API.CAFile != "",
		Binary:    nodesPath(inv, "<binary>", func(p inventory.Paths) string { return p.Binary }),
		DataRoot:  nodesPath(inv, "<data_root>", func(p inventory.Paths) string { return p.DataRoot }),
		BackupDir: nodesPath(inv, "<backup_dir>", func(p inventory.Paths) string { return p.BackupDir }),
		Unit:      inv.Service.Unit,
	}
}

// nodesPath is the path every node shares, or the placeholder (e.g.
// <binary>) when the inventory sets it per node, so the plan never shows a
// path a node does not use.
func nodesPath(inv *inventory.Inventory, placeholder string, get func(inventory.Paths) string) string {
	nodes := inv.Nodes()
	if len(nodes) == 0 {
		return get(inv.Paths)
	}
	first := get(nodes[0].Paths)
	for _, n := range nodes[1:] {
		if get(n.Paths) != first {
			return placeholder
		}
	}
	return first
}

// knownBuilds lists the catalog's builds and the target.
func knownBuilds(cat release.Catalog, rel *release.Release) []runbook.BuildRef {
	var out []runbook.BuildRef
	for _, r := range cat {
		out = append(out, runbook.BuildRef{Version: r.Version, SHA256: r.SHA256})
	}
	if rel != nil {
		out = append(out, runbook.BuildRef{Version: rel.Version, SHA256: rel.SHA256})
	}
	return out
}

// ---- plan ----

// PlanOptionsIn are the choices `plan` and `upgrade` share.
type PlanOptionsIn struct {
	Release   *release.Release
	Backup    runbook.BackupMode
	BackupSet string
	Bake      time.Duration // the canary soak after the first upgrade; 0: none
}

// MakePlan surveys the cluster (read-only) and builds its plan.
func MakePlan(ctx context.Context, env Env, o PlanOptionsIn) (runbook.Plan, *executor.Executor, executor.Survey, error) {
	x, err := env.executor(o.Release, nil)
	if err != nil {
		return runbook.Plan{}, nil, executor.Survey{}, err
	}
	s, err := executor.SurveyCluster(ctx, x, false)
	if err != nil {
		x.Close()
		return runbook.Plan{}, nil, s, err
	}
	target := runbook.BuildRef{Version: o.Release.Version, SHA256: o.Release.SHA256}
	in := executor.PlanInputFor(x, s, target, knownBuilds(env.Catalog, o.Release), PlanOptionsFor(env.Inventory, o, env.Token != ""))
	p, err := runbook.BuildPlan(in)
	if err != nil {
		x.Close()
		return runbook.Plan{}, nil, s, coded(runbook.ExitRefused, "%v", err)
	}
	return p, x, s, nil
}

// PrintPlan is `nwroll plan`: it prints the runbook this cluster would
// get. It changes nothing on any node and writes no journal.
func PrintPlan(ctx context.Context, env Env, o PlanOptionsIn) error {
	p, x, _, err := MakePlan(ctx, env, o)
	if err != nil {
		return err
	}
	x.Close()
	return p.Render(env.out())
}

// ---- upgrade ----

// UpgradeOptions are `nwroll upgrade`'s flags.
type UpgradeOptions struct {
	PlanOptionsIn
	NoRollback bool
	BreakLock  bool
}

// Upgrade is `nwroll upgrade --yes`: the machine, headless, every step
// auto-approved; on a failure the node is rolled back (exit 4) unless
// NoRollback (exit 1).
func Upgrade(ctx context.Context, env Env, o UpgradeOptions) (int, error) {
	run, err := PrepareUpgrade(ctx, env, o, runbook.MachineOptions{Headless: true, NoRollback: o.NoRollback, Approver: journal.CurrentOperator()})
	if err != nil {
		return ExitCodeOf(err), err
	}
	defer run.Close()
	m := RunHeadless(ctx, run.Machine, run.Executor, RunnerOptions{Out: env.Out, JSON: env.JSON, Tick: env.Tick, OnMachine: env.OnMachine})
	return m.ExitCode, runError(m)
}

// PreparedRun is an upgrade ready to be driven, headless or from the
// console: its plan, a machine that has not begun, the connected executor
// and the journal it writes.
type PreparedRun struct {
	Plan     runbook.Plan
	Machine  runbook.Machine
	Executor *executor.Executor
	Journal  *journal.Journal
}

// Close releases the executor's connections and the journal.
func (r *PreparedRun) Close() {
	r.Executor.Close()
	r.Journal.Close()
}

// PrepareUpgrade surveys the cluster (read-only), builds the plan, opens
// the journal and returns the run, not begun. Nothing on any node changes.
func PrepareUpgrade(ctx context.Context, env Env, o UpgradeOptions, mo runbook.MachineOptions) (*PreparedRun, error) {
	p, x, _, err := MakePlan(ctx, env, o.PlanOptionsIn)
	if err != nil {
		return nil, err
	}
	x.SetBreakLock(o.BreakLock)
	j, err := journal.Open(env.StateDir, env.Inventory.Cluster)
	if err != nil {
		x.Close()
		return nil, &runbook.ExitError{Code: runbook.ExitUsage, Err: err}
	}
	run, rel := runRecord(p, o)
	x.SetJournal(j, run, rel)
	env.logLine("journal", j.Path())
	return &PreparedRun{Plan: p, Machine: runbook.NewMachine(p, mo), Executor: x, Journal: j}, nil
}

func runError(m runbook.Machine) error {
	if m.ExitCode == runbook.ExitOK {
		return nil
	}
	return &runbook.ExitError{Code: m.ExitCode, Err: errors.New(m.Reason)}
}

// runRecord is what the run's intent records for resume and rollback.
func runRecord(p runbook.Plan, o UpgradeOptions) (*journal.RunRecord, *journal.Release) {
	r := o.Release
	src := r.Source
	if abs, err := filepath.Abs(src); err == nil {
		src = abs
	}
	run := &journal.RunRecord{ReleaseSource: src, Release: journal.BuildRecord{Version: r.Version, SHA256: r.SHA256},
		Backup: o.Backup.String(), BackupSet: o.BackupSet, NoRollback: o.NoRollback, Bake: journal.Duration(o.Bake)}
	var from []string
	seen := map[string]bool{}
	for _, n := range p.Nodes {
		if n.Current.SHA256 != "" && !seen[n.Current.SHA256] {
			seen[n.Current.SHA256] = true
			run.Builds = append(run.Builds, journal.BuildRecord{Version: n.Current.Version, SHA256: n.Current.SHA256})
			from = append(from, n.Current.Label())
		}
	}
	return run, &journal.Release{From: strings.Join(from, ", "), To: r.Version}
}

// ---- resume and rollback ----

// journalRunInfo is what the last run's journal says.
type journalRunInfo struct {
	run       *journal.Run
	progress  journal.RunProgress
	record    *journal.RunRecord
	target    runbook.BuildRef
	builds    []runbook.BuildRef
	backupSet string
}

func readRunInfo(env Env) (journalRunInfo, error) {
	run, err := journal.LatestRun(env.StateDir, env.Inventory.Cluster)
	if err != nil {
		if errors.Is(err, journal.ErrNoRun) {
			return journalRunInfo{}, coded(runbook.ExitRefused, "no rollout of cluster %s is on record in %s: nothing to continue (was the upgrade run with another XDG_STATE_HOME?)",
				env.Inventory.Cluster, env.StateDir)
		}
		return journalRunInfo{}, coded(runbook.ExitUsage, "%v", err)
	}
	info := journalRunInfo{run: run, progress: journal.Progress(run.Entries)}
	for _, e := range run.Entries {
		if e.Kind == journal.Intent && e.Op == runbook.RecordOpRun && e.Node == "" && e.Run != nil {
			info.record = e.Run
		}
		if e.Kind == journal.Outcome && e.OK && e.Backup != nil {
			info.backupSet = e.Backup.Set
		}
	}
	if info.record == nil {
		return info, coded(runbook.ExitRefused, "journal %s does not record the run's release: it was not written by an upgrade; nothing to continue", run.Path)
	}
	info.target = runbook.BuildRef{Version: info.record.Release.Version, SHA256: info.record.Release.SHA256}
	for _, b := range info.record.Builds {
		info.builds = append(info.builds, runbook.BuildRef{Version: b.Version, SHA256: b.SHA256})
	}
	return info, nil
}

// runEnd finds the run's last end: the exit code and reason of its last
// run outcome, and whether a run intent came after it (ended is false then:
// that run was cut short).
func runEnd(entries []journal.Entry) (code int, reason string, ended bool) {
	for _, e := range entries {
		if e.Op != runbook.RecordOpRun || e.Node != "" {
			continue
		}
		switch e.Kind {
		case journal.Intent:
			ended = false
		case journal.Outcome:
			ended, code, reason = true, runbook.ExitFailed, e.Detail
			if e.ExitCode != nil {
				code = *e.ExitCode
			}
		}
	}
	return code, reason, ended
}

// ResumeOptions are `nwroll resume`'s flags.
type ResumeOptions struct {
	// Release overrides the journal's release source; its sha256 must be
	// the journal's.
	Release   *release.Release
	BreakLock bool
}

// Resume is `nwroll resume --yes`: it re-reads every node's real state,
// runs the read-only checks again and continues the interrupted run.
func Resume(ctx context.Context, env Env, o ResumeOptions) (int, error) {
	info, err := readRunInfo(env)
	if err != nil {
		return ExitCodeOf(err), err
	}
	rp := info.progress
	if code, reason, ended := runEnd(info.run.Entries); ended && code != runbook.ExitFailed {
		// exit 1 (interrupted, or stopped after a failure) is resumable;
		// a run that succeeded, was refused or was rolled back is over.
		what := map[int]string{runbook.ExitOK: "succeeded", runbook.ExitRefused: "was refused", runbook.ExitRolledBack: "was rolled back"}[code]
		if code == runbook.ExitOK && strings.HasPrefix(reason, "rolled back") {
			what = "was rolled back by `nwroll rollback`"
		}
		if what == "" {
			what = fmt.Sprintf("ended with exit %d", code)
		}
		next := "start a new one with `nwroll upgrade`"
		if code == runbook.ExitOK && !strings.HasPrefix(reason, "rolled back") {
			next = "`nwroll rollback` undoes it"
		}
		return runbook.ExitRefused, coded(runbook.ExitRefused, "the last rollout of cluster %s (run %s) %s (%s): nothing to resume; %s",
			env.Inventory.Cluster, rp.RunID, what, reason, next)
	}
	rel := o.Release
	if rel == nil {
		rel, err = release.Load(info.record.ReleaseSource)
		if err != nil {
			return runbook.ExitUsage, coded(runbook.ExitUsage, "the interrupted run's release cannot be loaded (%v): pass --release with release %s", err, info.target.Label())
		}
		defer rel.Cleanup()
	}
	if rel.SHA256 != runbook.NormSHA(info.target.SHA256) {
		return runbook.ExitUsage, coded(runbook.ExitUsage, "release %s (sha256 %s) is not the interrupted run's target %s (sha256 %s)",
			rel.Source, rel.ShortSHA(), info.target.Label(), runbook.ShortSHA(info.target.SHA256))
	}
	backup := runbook.BackupQuiesced
	switch info.record.Backup {
	case "live":
		backup = runbook.BackupLive
	case "reuse":
		backup = runbook.BackupReuse
	}
	set := info.record.BackupSet
	noRollback := info.record.NoRollback
	return continueRun(ctx, env, info, rel, PlanOptionsIn{Release: rel, Backup: backup, BackupSet: set, Bake: time.Duration(info.record.Bake)}, o.BreakLock,
		runbook.MachineOptions{Headless: true, NoRollback: noRollback, Approver: journal.CurrentOperator()}, false)
}

// RollbackOptions are `nwroll rollback`'s flags.
type RollbackOptions struct {
	BreakLock bool
}

// Rollback is `nwroll rollback --yes`: every node the journal shows as
// upgraded is rolled back, newest first, one at a time, with gates.
func Rollback(ctx context.Context, env Env, o RollbackOptions) (int, error) {
	info, err := readRunInfo(env)
	if err != nil {
		return ExitCodeOf(err), err
	}
	backup := runbook.BackupLive // never used: rollback steps take no backup
	return continueRun(ctx, env, info, nil, PlanOptionsIn{Backup: backup}, o.BreakLock,
		runbook.MachineOptions{Headless: true, Approver: journal.CurrentOperator()}, true)
}

func continueRun(ctx context.Context, env Env, info journalRunInfo, rel *release.Release, po PlanOptionsIn, breakLock bool, mo runbook.MachineOptions, rollback bool) (int, error) {
	known := append(knownBuilds(env.Catalog, rel), info.builds...)
	x, err := env.executor(rel, known)
	if err != nil {
		return runbook.ExitUsage, err
	}
	defer x.Close()
	x.SetBreakLock(breakLock)
	x.SetBackupSetID(info.backupSet)
	s, err := executor.SurveyCluster(ctx, x, false)
	if err != nil {
		return ExitCodeOf(err), err
	}
	in := executor.PlanInputFor(x, s, info.target, known, PlanOptionsFor(env.Inventory, po, env.Token != ""))
	p, err := runbook.BuildPlan(in)
	if err != nil {
		return runbook.ExitRefused, coded(runbook.ExitRefused, "%v", err)
	}
	facts := journal.ResumeFacts(info.run.Entries, s.Files)
	facts.Builds = append(facts.Builds, info.builds...)
	var m runbook.Machine
	if rollback {
		m, err = runbook.RollbackState(p, facts, mo)
	} else {
		m, err = runbook.ResumeState(p, facts, mo)
	}
	if err != nil {
		return runbook.ExitRefused, coded(runbook.ExitRefused, "%v", err)
	}
	j, err := journal.Reopen(info.run.Path)
	if err != nil {
		return runbook.ExitUsage, err
	}
	defer j.Close()
	rr := &journal.Release{To: info.target.Version}
	if info.progress.Release.From != "" {
		rr.From = info.progress.Release.From
	}
	x.SetJournal(j, info.record, rr)
	x.SetReusedRun()
	what := "resuming"
	if rollback {
		what = "rolling back"
	}
	env.logLine("journal", fmt.Sprintf("%s (%s run %s)", j.Path(), what, j.RunID()))
	m = RunHeadless(ctx, m, x, RunnerOptions{Out: env.Out, JSON: env.JSON, Tick: env.Tick, OnMachine: env.OnMachine})
	return m.ExitCode, runError(m)
}

// ---- status ----

// NodeStatusRow is one node in `nwroll status`.
type NodeStatusRow struct {
	Name    string   `json:"name"`
	NodeID  string   `json:"node_id"`
	Role    string   `json:"role"` // leader | follower | learner | unknown
	Release string   `json:"release"`
	SHA256  string   `json:"sha256"`
	Active  bool     `json:"service_active"`
	Ready   bool     `json:"ready"`
	Failing []string `json:"failing,omitempty"` // failing /ready checks, or why the node did not answer
	Lag     *uint64  `json:"lag_entries"`
	Lock    string   `json:"lock,omitempty"` // the holder, when a lock is held
	Staged  string   `json:"staged,omitempty"`
	Prev    string   `json:"prev,omitempty"`
}

// StatusReport is `nwroll status`.
type StatusReport struct {
	Cluster string          `json:"cluster"`
	TakenAt time.Time       `json:"taken_at"`
	Leader  string          `json:"leader"`
	Term    uint64          `json:"term"`
	Nodes   []NodeStatusRow `json:"nodes"`
	Notes   []string        `json:"notes,omitempty"`
}

// Status surveys the cluster once (read-only) and builds the node table.
func Status(ctx context.Context, env Env) (StatusReport, error) {
	x, err := env.executor(nil, nil)
	if err != nil {
		return StatusReport{}, err
	}
	defer x.Close()
	s, err := executor.SurveyCluster(ctx, x, true)
	if err != nil {
		return StatusReport{}, err
	}
	rep := StatusReport{Cluster: env.Inventory.Cluster, TakenAt: s.Snap.TakenAt.UTC()}
	leader, hasLeader := s.Snap.Leader()
	if hasLeader {
		rep.Leader = s.Snap.NameOf(leader.NodeID)
		if s.Snap.Stats != nil {
			rep.Term = s.Snap.Stats.Cluster.CurrentTerm
		}
	} else {
		rep.Notes = append(rep.Notes, "no leader: "+s.Snap.NoLeaderReason())
	}
	if s.LockErr != nil {
		rep.Notes = append(rep.Notes, "locks: "+s.LockErr.Error())
	}
	for i, name := range x.NodeNames() {
		f := s.Files[i]
		id := x.NodeID(name)
		v := runbook.ViewNode(s.Snap, name, id)
		row := NodeStatusRow{Name: name, NodeID: id, Role: v.Role, Ready: v.Ready, Failing: v.Failing, Lag: v.Lag,
			SHA256: f.SHA256, Active: f.Active, Release: x.Identify(f.SHA256).Label()}
		if f.NewPresent {
			row.Staged = x.Identify(f.NewSHA256).Label()
		}
		if f.PrevPresent {
			row.Prev = x.Identify(f.PrevSHA256).Label()
		}
		if h, ok := s.Locks[name]; ok {
			row.Lock = h.String()
		}
		rep.Nodes = append(rep.Nodes, row)
	}
	return rep, nil
}

// RenderStatus writes the node table.
func RenderStatus(w io.Writer, rep StatusReport) {
	leader := rep.Leader
	if leader == "" {
		leader = "none"
	}
	fmt.Fprintf(w, "cluster %s: leader %s, term %d, %s\n", rep.Cluster, leader, rep.Term, rep.TakenAt.Format(time.RFC3339))
	rows := [][]string{{"NODE", "ROLE", "RELEASE", "READY", "LAG", "LOCK"}}
	for _, n := range rep.Nodes {
		ready := "ready"
		if !n.Ready {
			ready = "NOT READY: " + strings.Join(n.Failing, ", ")
		}
		if !n.Active {
			ready += " (service inactive)"
		}
		lag := "-"
		if n.Lag != nil {
			lag = fmt.Sprint(*n.Lag)
		}
		lock := "-"
		if n.Lock != "" {
			lock = n.Lock
		}
		rel := n.Release
		if n.Staged != "" {
			rel += " (staged " + n.Staged + ")"
		}
		rows = append(rows, []string{n.Name, n.Role, rel, ready, lag, lock})
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", widths[i]-len([]rune(c))+2))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	notes := append([]string(nil), rep.Notes...)
	sort.Strings(notes)
	for _, n := range notes {
		fmt.Fprintln(w, "note: "+n)
	}
}

// ---- sysdump ----

// Sysdump is `nwroll sysdump -o FILE`: a cluster sysdump saved with mode
// 0600. progress (may be nil) gets the bytes received so far.
func Sysdump(ctx context.Context, env Env, dest string, progress func(int64)) (api.SysdumpResult, error) {
	x, err := env.executor(nil, nil)
	if err != nil {
		return api.SysdumpResult{}, err
	}
	defer x.Close()
	if err := x.Connect(ctx); err != nil {
		return api.SysdumpResult{}, err
	}
	x.Poll(ctx) // learn the leader, to ask it first
	var p func(int64, int64)
	if progress != nil {
		p = func(done, _ int64) { progress(done) }
	}
	res, err := x.ClusterSysdump(ctx, dest, p)
	if err != nil {
		return res, coded(runbook.ExitFailed, "sysdump of cluster %s: %v", env.Inventory.Cluster, err)
	}
	return res, nil
}
