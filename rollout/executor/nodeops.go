package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/health/sysdump"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The node-changing effects, each idempotent where a kill -9 could leave it
// half done: a rename that already happened is recognised by the binary's
// sha256, a copy goes to a temp name first, an upload never appears under
// its final name unverified.

const (
	stageTimeout  = 30 * time.Minute
	backupTimeout = 30 * time.Minute
	stageMargin   = 16 << 20 // free space kept beyond the binary
)

// keepPrevScript copies the binary $1 to $1.prev: to a temp name, checked,
// then renamed, so .prev is never a partial copy.
const keepPrevScript = `b=$1; t=$b.prev.nwroll-tmp
[ -f "$b" ] || { echo "nwroll: $b is missing" >&2; exit 66; }
rm -f -- "$t"
cp -p -- "$b" "$t" || { rm -f -- "$t"; exit 1; }
a=$(sha256sum < "$b") && c=$(sha256sum < "$t") || { rm -f -- "$t"; exit 1; }
if [ "${a%% *}" != "${c%% *}" ]; then rm -f -- "$t"; echo "nwroll: the copy of $b differs from it" >&2; exit 65; fi
sync -- "$t" 2>/dev/null || sync
mv -f -- "$t" "$b.prev" || { rm -f -- "$t"; exit 1; }
sync -- "$(dirname -- "$b")" 2>/dev/null || sync
printf 'nwroll-keep-prev: %s\n' "${a%% *}"`

// renameScript moves $1$2 (".new" to swap, ".prev" to roll back) over the
// binary $1 after checking its sha256 is $3 (rename is atomic). If the
// source is gone and the binary already is $3, the rename happened before
// (a kill): that is success.
const renameScript = `b=$1; src=$1$2; want=$3
if [ ! -f "$src" ]; then
  if [ -n "$want" ] && [ -f "$b" ]; then
    h=$(sha256sum < "$b") || exit 1
    if [ "${h%% *}" = "$want" ]; then printf 'nwroll-rename: %s already has sha256 %s\n' "$b" "$want"; exit 0; fi
  fi
  echo "nwroll: $src is missing" >&2; exit 66
fi
h=$(sha256sum < "$src") || exit 1
if [ -n "$want" ] && [ "${h%% *}" != "$want" ]; then
  echo "nwroll: $src has sha256 ${h%% *}, expected $want: refusing to move it over $b" >&2; exit 65
fi
mv -f -- "$src" "$b" || exit 1
sync -- "$(dirname -- "$b")" 2>/dev/null || sync
printf 'nwroll-rename: %s -> %s\n' "$src" "$b"`

const unstageScript = `n=$1.new; want=$2
[ -e "$n" ] || { printf 'nwroll-unstage: %s is gone already\n' "$n"; exit 0; }
h=$(sha256sum < "$n") || exit 1
if [ "${h%% *}" != "$want" ]; then
  echo "nwroll: $n has sha256 ${h%% *}, not the staged target $want: left in place" >&2; exit 65
fi
rm -f -- "$n" || exit 1
sync -- "$(dirname -- "$n")" 2>/dev/null || sync
printf 'nwroll-unstage: removed %s\n' "$n"`

// Unstage removes <binary>.new from the node when it holds want (the
// target a run staged and never put in place); any other file there is
// not this run's and stays. A .new already gone is success (a kill).
func (x *Executor) Unstage(ctx context.Context, name, want string) error {
	n, err := x.node(name)
	if err != nil {
		return err
	}
	want = runbook.NormSHA(want)
	if want == "" {
		return errors.New("unstage: no sha256 to check the staged file against")
	}
	out, err := x.script(ctx, n, "unstage", unstageScript, time.Minute, n.Paths.Binary, want)
	if err != nil {
		return err
	}
	if out.Code != 0 {
		return commandError("unstage", name, out)
	}
	return nil
}

// ensureBackupSet returns this run's backup set, starting it on first use
// (or loading the set a resumed run was filling).
func (x *Executor) ensureBackupSet() (*journal.BackupSet, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.backup != nil {
		return x.backup, nil
	}
	if id := x.cfg.BackupSetID; id != "" {
		sets, _, err := journal.LoadBackupSets(x.cfg.StateDir, x.inv.Cluster)
		if err != nil {
			return nil, err
		}
		if s, ok := journal.FindBackupSet(sets, id); ok {
			x.backup = s
			return s, nil
		}
		x.backup = &journal.BackupSet{ID: id, Cluster: x.inv.Cluster, RunID: x.holder.RunID, CreatedBy: journal.CurrentOperator(), CreatedAt: time.Now().UTC()}
		return x.backup, nil
	}
	id, err := journal.NewBackupSetID()
	if err != nil {
		return nil, err
	}
	x.backup = &journal.BackupSet{ID: id, Cluster: x.inv.Cluster, RunID: x.holder.RunID, CreatedBy: journal.CurrentOperator(), CreatedAt: time.Now().UTC()}
	return x.backup, nil
}

// Backup tars the node's data root into its backup dir (0600), records
// its sha256 in this run's backup set, and saves the set locally and on
// every node it covers.
func (x *Executor) Backup(ctx context.Context, name string, mode runbook.BackupMode) (runbook.BackupInfo, error) {
	n, err := x.node(name)
	if err != nil {
		return runbook.BackupInfo{}, err
	}
	b, err := x.newBackup(n, mode)
	if err != nil {
		return runbook.BackupInfo{}, err
	}
	out, err := x.script(ctx, n, "backup", b.script(), backupTimeout)
	if err != nil {
		return runbook.BackupInfo{}, err
	}
	if out.Code != 0 {
		return runbook.BackupInfo{}, commandError("backup", name, out)
	}
	return x.recordBackup(ctx, b, out.Stdout)
}

// backupJob is one node's archive about to be made.
type backupJob struct {
	n       inventory.Node
	mode    runbook.BackupMode
	set     *journal.BackupSet
	archive string
	at      time.Time
}

func (x *Executor) newBackup(n inventory.Node, mode runbook.BackupMode) (backupJob, error) {
	set, err := x.ensureBackupSet()
	if err != nil {
		return backupJob{}, err
	}
	now := time.Now().UTC()
	return backupJob{n: n, mode: mode, set: set, archive: journal.BackupArchivePath(n.Paths.BackupDir, n.Name, set.ID, now), at: now}, nil
}

func (b backupJob) script() string {
	return BackupCreateCommand(b.n.Paths.DataRoot, b.archive, b.mode == runbook.BackupLive)
}

// recordBackup reads the backup command's output and records the archive
// in the set, here and on every node of the set.
func (x *Executor) recordBackup(ctx context.Context, b backupJob, stdout string) (runbook.BackupInfo, error) {
	name := b.n.Name
	sha, size, err := ParseBackupOutput(stdout)
	if err != nil {
		return runbook.BackupInfo{}, fmt.Errorf("backup on %s: %v", name, err)
	}
	x.mu.Lock()
	bin := x.files[name].SHA256
	rec := journal.BackupArchive{Node: name, NodeUUID: x.uuids[name], NodeID: x.ids[name], BinarySHA256: bin,
		DataRoot: b.n.Paths.DataRoot, Archive: b.archive, SHA256: sha, Size: size, Mode: b.mode.String(), CreatedAt: b.at}
	x.mu.Unlock()
	rec.Release = x.Identify(bin).Label()
	x.mu.Lock()
	b.set.Put(rec)
	snapshot := *b.set
	snapshot.Nodes = append([]journal.BackupArchive(nil), b.set.Nodes...)
	x.mu.Unlock()
	if _, err := journal.SaveBackupSet(x.cfg.StateDir, snapshot); err != nil {
		return runbook.BackupInfo{}, fmt.Errorf("backup on %s: save the backup set locally: %w", name, err)
	}
	if err := x.writeSetOnNodes(ctx, snapshot); err != nil {
		return runbook.BackupInfo{}, err
	}
	return runbook.BackupInfo{Set: b.set.ID, Path: b.archive, SHA256: sha}, nil
}

func (x *Executor) writeSetOnNodes(ctx context.Context, s journal.BackupSet) error {
	return x.ForEach(s.NodeNames(), func(name string) error {
		n, err := x.node(name)
		if err != nil {
			return nil // a node no longer in the inventory
		}
		cmd, err := BackupManifestWriteCommand(n.Paths.BackupDir, s)
		if err != nil {
			return err
		}
		out, err := x.script(ctx, n, "save backup set", cmd, time.Minute)
		if err != nil {
			return err
		}
		if out.Code != 0 {
			return commandError("save backup set "+s.ID, name, out)
		}
		return nil
	})
}

// VerifyBackupSet checks that set id (kept locally) can stand in for a
// fresh backup of nodes, and that every archive is on its node with the
// recorded sha256.
func (x *Executor) VerifyBackupSet(ctx context.Context, id string, nodes []string) error {
	sets, _, err := journal.LoadBackupSets(x.cfg.StateDir, x.inv.Cluster)
	if err != nil {
		return err
	}
	var s *journal.BackupSet
	if id == "latest" {
		s, err = journal.ChooseReusableSet(sets, x.inv.Cluster, nodes, x.cfg.BackupMaxAge, time.Now())
		if err != nil {
			return err
		}
	} else {
		var ok bool
		if s, ok = journal.FindBackupSet(sets, id); !ok {
			dir, _ := journal.BackupStateDir(x.cfg.StateDir, x.inv.Cluster)
			return fmt.Errorf("backup set %s is not in %s: pick a set listed there, or take a fresh backup", id, dir)
		}
		if err := s.CheckReusable(x.inv.Cluster, nodes, x.cfg.BackupMaxAge, time.Now()); err != nil {
			return err
		}
	}
	err = x.ForEach(nodes, func(name string) error {
		n, err := x.node(name)
		if err != nil {
			return err
		}
		a, _ := s.Node(name)
		out, err := x.script(ctx, n, "verify backup", BackupVerifyCommand(a.Archive, a.SHA256), backupTimeout)
		if err != nil {
			return err
		}
		if out.Code != 0 {
			return commandError("verify backup "+a.Archive, name, out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.backup = s
	x.mu.Unlock()
	x.note(Note{Kind: NoteInfo, Op: "verify-backup", Text: fmt.Sprintf("reusing backup set %s of %s", s.ID, s.CreatedAt.UTC().Format(time.RFC3339))})
	return nil
}

// BackupSetInUse is the set this run wrote or reused, if any.
func (x *Executor) BackupSetInUse() (journal.BackupSet, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.backup == nil {
		return journal.BackupSet{}, false
	}
	return *x.backup, true
}

// lockRunner runs the lock commands over SSH with the node's privileges.
type lockRunner struct{ x *Executor }

func (r lockRunner) RunCommand(ctx context.Context, node, cmd string) (string, int, error) {
	n, err := r.x.node(node)
	if err != nil {
		return "", 0, err
	}
	out, err := r.x.script(ctx, n, "lock", cmd, time.Minute)
	return out.Stdout, out.Code, err
}

func (x *Executor) lockTargets(names []string) []LockTarget {
	var ts []LockTarget
	for _, name := range names {
		if n, err := x.node(name); err == nil {
			ts = append(ts, LockTarget{Node: name, Path: LockPathForDataRoot(n.Paths.DataRoot)})
		}
	}
	return ts
}

// LockNodes takes the rollout lock on every node. resume takes over this
// run's own lock, unless the process that holds it is still alive here.
func (x *Executor) LockNodes(ctx context.Context, names []string, resume bool) error {
	if x.holder.RunID == "" {
		return errors.New("lock: this run has no journal, so no run id to lock with")
	}
	targets := x.lockTargets(names)
	if resume || x.reusedRun {
		// A run id that is not new (resume, rollback) could still be held
		// by the process that wrote it: never take over a live one.
		held, _ := x.ReadLocks(ctx, names)
		for _, name := range sortedKeys(held) {
			h := held[name]
			if h.RunID == x.holder.RunID && h.Host == x.holder.Host && h.PID != os.Getpid() && processAlive(h.PID) {
				return fmt.Errorf("node %s is locked by %s, which is still running on this host: wait for it to finish, or stop it (Ctrl-C) before resuming", name, h)
			}
		}
	}
	h := x.holder
	broken, err := AcquireLocks(ctx, lockRunner{x}, targets, h, x.cfg.BreakLock)
	for _, name := range sortedKeys(broken) {
		b := broken[name]
		x.note(Note{Node: name, Kind: NoteInfo, Op: "lock", Text: "broke the lock held by " + b.String() + " (--break-lock)"})
		x.journalEvent(journal.Entry{Node: name, Op: "lock-broken", Detail: "broke the lock held by " + b.String() + " (--break-lock)", Holder: b.RunID})
	}
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.lockTaken = true
	x.mu.Unlock()
	return nil
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// UnlockNodes releases this run's lock on every node.
func (x *Executor) UnlockNodes(ctx context.Context, names []string) error {
	return x.ForEach(names, func(name string) error {
		return ReleaseLocks(ctx, lockRunner{x}, x.lockTargets([]string{name}), x.holder.RunID)
	})
}

// ReadLocks reads every node's lock holder, in parallel (for status).
func (x *Executor) ReadLocks(ctx context.Context, names []string) (map[string]LockHolder, error) {
	out := map[string]LockHolder{}
	var mu sync.Mutex
	err := x.ForEach(names, func(name string) error {
		m, err := ReadLocks(ctx, lockRunner{x}, x.lockTargets([]string{name}))
		mu.Lock()
		for k, v := range m {
			out[k] = v
		}
		mu.Unlock()
		return err
	})
	return out, err
}

// TakeSysdump saves a cluster sysdump (POST …/sysdump/cluster, via the
// leader when known), or one node sysdump per node when there is no leader,
// under StateDir/<cluster>/sysdumps/, mode 0600.
func (x *Executor) TakeSysdump(ctx context.Context, purpose runbook.SysdumpPurpose, perNode bool, nodes []string) (runbook.SysdumpInfo, error) {
	dir, err := x.clusterStateDir("sysdumps")
	if err != nil {
		return runbook.SysdumpInfo{}, err
	}
	base := filepath.Join(dir, x.runTag()+"-"+string(purpose))
	if !perNode {
		res, err := x.ClusterSysdump(ctx, base+".tar.gz", x.progress("cluster", "sysdump"))
		if err == nil {
			info := runbook.SysdumpInfo{Path: res.Path}
			if a, err := sysdump.OpenArchive(res.Path); err == nil {
				if m, err := a.Manifest(); err == nil {
					info.Partial = m.Partial
				}
			}
			return info, nil
		}
		if !health.IsLeaderTransition(err) && !health.IsUnreachable(err) {
			return runbook.SysdumpInfo{}, err
		}
		x.note(Note{Kind: NoteInfo, Op: "sysdump", Text: "cluster sysdump failed (" + err.Error() + "); taking one sysdump per node"})
	}
	return x.nodeSysdumps(ctx, base, nodes)
}

// ClusterSysdump saves a cluster sysdump to dest (0600), asking the leader
// first and every other node after.
func (x *Executor) ClusterSysdump(ctx context.Context, dest string, progress func(done, total int64)) (api.SysdumpResult, error) {
	clients := x.Clients()
	if len(clients) == 0 {
		return api.SysdumpResult{}, errors.New("sysdump: not connected")
	}
	if snap, ok := x.LastSnapshot(); ok {
		if l, ok := snap.Leader(); ok {
			for i, c := range clients {
				if c.NodeID() == l.NodeID {
					clients[0], clients[i] = clients[i], clients[0]
				}
			}
		}
	}
	var errs []error
	for _, c := range clients {
		opts := api.SysdumpOptions{Path: dest}
		if progress != nil {
			opts.Progress = func(n int64) { progress(n, -1) }
		}
		res, err := c.ClusterSysdump(ctx, opts)
		if err == nil {
			return res, nil
		}
		errs = append(errs, err)
		if health.IsUnauthorized(err) || health.IsForbidden(err) {
			break
		}
	}
	return api.SysdumpResult{}, errors.Join(errs...)
}

func (x *Executor) nodeSysdumps(ctx context.Context, base string, nodes []string) (runbook.SysdumpInfo, error) {
	if err := journal.Mkdir(base); err != nil {
		return runbook.SysdumpInfo{}, err
	}
	byName := map[string]*api.Client{}
	for _, c := range x.Clients() {
		byName[c.Name()] = c
	}
	var mu sync.Mutex
	failed := 0
	err := x.ForEach(nodes, func(name string) error {
		c := byName[name]
		if c == nil {
			return fmt.Errorf("sysdump: no client for %s", name)
		}
		_, err := c.NodeSysdump(ctx, api.SysdumpOptions{Path: filepath.Join(base, journal.FileSafe(name)+".tar.gz")})
		if err != nil {
			mu.Lock()
			failed++
			mu.Unlock()
		}
		return err
	})
	if failed == len(nodes) {
		return runbook.SysdumpInfo{}, fmt.Errorf("no node gave a sysdump: %w", err)
	}
	if err != nil {
		x.note(Note{Kind: NoteInfo, Op: "sysdump", Text: "some node sysdumps failed: " + err.Error()})
	}
	return runbook.SysdumpInfo{Path: base, Partial: failed > 0}, nil
}

// SaveBaseline keeps the pre-check's snapshot: every node's /metrics in
// Prometheus text and the cluster's view as JSON, under
// StateDir/<cluster>/baselines/<run>/, mode 0600.
func (x *Executor) SaveBaseline(snap health.ClusterSnapshot) (string, error) {
	dir, err := x.clusterStateDir("baselines")
	if err != nil {
		return "", err
	}
	dir = filepath.Join(dir, x.runTag())
	if err := journal.Mkdir(dir); err != nil {
		return "", err
	}
	type nodeView struct {
		Name    string                 `json:"name"`
		NodeID  string                 `json:"node_id"`
		Health  *health.HealthResponse `json:"health,omitempty"`
		Ready   *health.ReadyResponse  `json:"ready,omitempty"`
		Errors  []string               `json:"errors,omitempty"`
		Metrics string                 `json:"metrics_file,omitempty"`
	}
	view := struct {
		TakenAt time.Time               `json:"taken_at"`
		Stats   *health.Stats           `json:"stats,omitempty"`
		Members *health.MembersResponse `json:"members,omitempty"`
		Nodes   []nodeView              `json:"nodes"`
	}{TakenAt: snap.TakenAt.UTC(), Stats: snap.Stats, Members: snap.Members}
	for _, n := range snap.Nodes {
		nv := nodeView{Name: n.Name, NodeID: n.NodeID, Health: n.Health, Ready: n.Ready}
		for _, e := range []error{n.HealthErr, n.ReadyErr, n.MetricsErr} {
			if e != nil {
				nv.Errors = append(nv.Errors, e.Error())
			}
		}
		if n.Metrics != nil {
			var b bytes.Buffer
			for _, name := range sortedKeys(n.Metrics.Families) {
				if _, err := expfmt.MetricFamilyToText(&b, n.Metrics.Families[name]); err != nil {
					return "", fmt.Errorf("baseline of %s: %w", n.Name, err)
				}
			}
			nv.Metrics = journal.FileSafe(n.Name) + ".prom"
			if err := journal.WriteAtomic(filepath.Join(dir, nv.Metrics), b.Bytes()); err != nil {
				return "", fmt.Errorf("baseline: %w", err)
			}
		}
		view.Nodes = append(view.Nodes, nv)
	}
	b, err := json.MarshalIndent(view, "", "  ")
	if err != nil {
		return "", err
	}
	if err := journal.WriteAtomic(filepath.Join(dir, "cluster.json"), append(b, '\n')); err != nil {
		return "", fmt.Errorf("baseline: %w", err)
	}
	return dir, nil
}
