package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/remote"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The executor (design §2) turns the machine's effects into remote and API
// work and answers each with an event. It holds everything a run needs to
// reach the cluster: one SSH handle and one api.Client per node, the
// pinned CA and the admin token (which never leaves this struct: it is a
// api.Token, and no command output that carries it is passed on).
//
// Perform runs one asynchronous effect and returns its answer; Apply writes
// a synchronous one (Record, SaveBaseline, Finish). Both are safe for
// concurrent use: the runner calls Perform from one goroutine per effect.

// Config is what an Executor needs.
type Config struct {
	Inventory *inventory.Inventory
	Dialer    remote.Dialer

	// Release is the target; needed only to stage it.
	Release *release.Release
	// Catalog identifies builds (for backup records and status).
	Catalog release.Catalog
	// Known are further builds to identify (a resumed run's), beyond Catalog.
	Known []runbook.BuildRef

	// StateDir is $XDG_STATE_HOME/nwroll: sysdumps, baselines and backup
	// sets are kept under StateDir/<cluster>/.
	StateDir string
	// Journal receives the machine's Records; nil writes none (plan, status).
	Journal *journal.Journal
	// Run is recorded on the run's intent, and RunRelease is its
	// Release: what resume needs to continue the run.
	Run        *journal.RunRecord
	RunRelease *journal.Release

	// Token is an admin token given by the operator ($NEUWERK_TOKEN); ""
	// mints one over SSH.
	Token api.Token
	// TokenSource names where Token came from, for messages.
	TokenSource string

	// BreakLock takes over a lock another run holds (--break-lock).
	BreakLock bool
	// BackupSetID continues this backup set (resume) instead of a new one.
	BackupSetID string
	// BackupMaxAge bounds how old a reused set may be (default 7 days).
	BackupMaxAge time.Duration

	// Timeouts of the health clients; zero fields take short defaults.
	Timeouts api.Timeouts
	// OpTimeout bounds one remote command (default 5m; staging and backups
	// get 30m).
	OpTimeout time.Duration

	// OnNote receives what the executor has to say beyond an effect's
	// result: command output, transfer progress, notes. May be nil.
	OnNote func(Note)

	// Cloud mode: the group's provider, and the nodes discovered from its
	// instances (the inventory lists none).
	Cloud cloud.Provider
	Nodes []inventory.Node
	// CloudTimeout bounds one surge (until the new instance runs) or one
	// retirement (until the instance is terminated): default 15m, the
	// drain timeout (300 s) and the hook's heartbeat with room.
	CloudTimeout time.Duration
	// CloudPoll is how often the group is described while waiting
	// (default 2s).
	CloudPoll time.Duration
	// ElectionWait is how long Connect waits for a leader to answer the
	// members API in cloud mode (default 30s, the election window).
	ElectionWait time.Duration
}

// Note is a line of the executor's own output for the log pane or CI log.
type Note struct {
	At    time.Time
	Node  string
	Kind  NoteKind
	Op    string // the effect's kind, when the note belongs to one
	Text  string // for NoteOutput: one line of the command's output
	Done  int64  // for NoteProgress
	Total int64
}

// NoteKind says what a Note carries.
type NoteKind string

// Note kinds.
const (
	NoteOutput   NoteKind = "output"   // a line of a remote command's stdout or stderr
	NoteProgress NoteKind = "progress" // bytes of a transfer
	NoteInfo     NoteKind = "info"     // something worth knowing (lock broken, CA pinned…)
)

// Executor performs effects. Build it with New, then Connect.
type Executor struct {
	cfg   Config
	inv   *inventory.Inventory
	nodes []inventory.Node // inventory order

	mu        sync.Mutex
	onNote    func(Note)
	remotes   map[string]remote.Remote
	uuids     map[string]string // node → UUID from <data_root>/node_id
	ids       map[string]string // node → decimal id
	caPEM     []byte
	caSource  string
	token     api.Token
	mintedAt  time.Time     // when token was minted; zero when it was given
	clients   []*api.Client // inventory order
	connected bool
	files     map[string]runbook.NodeFiles // latest read per node
	lastSnap  *health.ClusterSnapshot
	fresh     *Survey // files and locks read by Connect, for the first survey
	// connectFilesAt: when Connect read every node's files (zero once used).
	connectFilesAt time.Time
	// freeKB: free space in each binary's directory, read by Connect at
	// connectedAt; Stage checks it instead of asking again while recent.
	freeKB      map[string]int64
	connectedAt time.Time
	backup      *journal.BackupSet
	holder      LockHolder
	lockTaken   bool
	reusedRun   bool // the journal continues an earlier run (resume, rollback): its run id may be held
}

// New returns an executor for the inventory's nodes.
func New(cfg Config) (*Executor, error) {
	if cfg.Inventory == nil {
		return nil, errors.New("executor: no inventory")
	}
	if cfg.Dialer == nil {
		return nil, errors.New("executor: no SSH dialer")
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 5 * time.Minute
	}
	if cfg.BackupMaxAge <= 0 {
		cfg.BackupMaxAge = 7 * 24 * time.Hour
	}
	t := cfg.Timeouts
	if t.Probe <= 0 {
		t.Probe = 2 * time.Second
	}
	if t.API <= 0 {
		t.API = 4 * time.Second
	}
	if t.Metrics <= 0 {
		t.Metrics = 2 * time.Second
	}
	cfg.Timeouts = t
	if cfg.CloudTimeout <= 0 {
		cfg.CloudTimeout = 15 * time.Minute
	}
	if cfg.CloudPoll <= 0 {
		cfg.CloudPoll = 2 * time.Second
	}
	if cfg.ElectionWait <= 0 {
		cfg.ElectionWait = 30 * time.Second
	}
	nodes := cfg.Inventory.Nodes()
	if cfg.Inventory.Cloud != nil {
		nodes = append([]inventory.Node(nil), cfg.Nodes...)
	}
	x := &Executor{
		cfg:     cfg,
		inv:     cfg.Inventory,
		nodes:   nodes,
		remotes: map[string]remote.Remote{},
		uuids:   map[string]string{},
		ids:     map[string]string{},
		files:   map[string]runbook.NodeFiles{},
		freeKB:  map[string]int64{},
		token:   cfg.Token,
		onNote:  cfg.OnNote,
	}
	runID := ""
	if cfg.Journal != nil {
		runID = cfg.Journal.RunID()
	}
	x.holder = NewLockHolder(cfg.Inventory.Cluster, runID)
	return x, nil
}

// Close releases the health clients' connections. The dialer is the
// caller's to close.
func (x *Executor) Close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range x.clients {
		c.CloseIdleConnections()
	}
	for _, r := range x.remotes {
		_ = r.Close()
	}
	x.remotes = map[string]remote.Remote{}
}

// SetJournal attaches the run's journal (opened once the cluster was
// surveyed): Records go to it and its run id names the lock holder.
func (x *Executor) SetJournal(j *journal.Journal, run *journal.RunRecord, rel *journal.Release) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.cfg.Journal, x.cfg.Run, x.cfg.RunRelease = j, run, rel
	x.holder = NewLockHolder(x.inv.Cluster, j.RunID())
}

// Inventory is the executor's inventory.
func (x *Executor) Inventory() *inventory.Inventory { return x.inv }

// Holder is the lock holder this run writes on the nodes.
func (x *Executor) Holder() LockHolder { return x.holder }

func (x *Executor) note(n Note) {
	x.mu.Lock()
	f := x.onNote
	x.mu.Unlock()
	if f == nil {
		return
	}
	if n.At.IsZero() {
		n.At = time.Now()
	}
	n.Text = journal.ScrubString(n.Text)
	f(n)
}

// SetNoteHandler replaces Config.OnNote (nil drops notes).
func (x *Executor) SetNoteHandler(f func(Note)) {
	x.mu.Lock()
	x.onNote = f
	x.mu.Unlock()
}

func (x *Executor) node(name string) (inventory.Node, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, n := range x.nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return inventory.Node{}, fmt.Errorf("node %s is not in the inventory %s", name, x.inv.Path)
}

// NodeNames lists the inventory's nodes in order.
func (x *Executor) NodeNames() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]string, len(x.nodes))
	for i, n := range x.nodes {
		out[i] = n.Name
	}
	return out
}

// NodeID is the node's decimal API id, known after Connect.
func (x *Executor) NodeID(name string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.ids[name]
}

// Perform runs one asynchronous effect and returns the event answering it
// (a Snapshot for PollHealth, an EffectResult otherwise). It never panics
// on a failure: errors travel in the result.
func (x *Executor) Perform(ctx context.Context, e runbook.Effect) runbook.Event {
	id := e.Meta().ID
	if _, ok := e.(runbook.PollHealth); ok {
		snap := x.Poll(ctx)
		return runbook.Snapshot{ID: id, Snap: snap, At: time.Now()}
	}
	data, err := x.perform(ctx, e)
	return runbook.EffectResult{ID: id, At: time.Now(), Err: err, Data: data}
}

func (x *Executor) perform(ctx context.Context, e runbook.Effect) (any, error) {
	switch e := e.(type) {
	case runbook.ConnectNodes:
		return nil, x.Connect(ctx)
	case runbook.ReadNodeFiles:
		if files, ok := x.recentFiles(e.Nodes); ok {
			return files, nil
		}
		return x.ReadFiles(ctx, e.Nodes)
	case runbook.TakeSysdump:
		return x.TakeSysdump(ctx, e.Purpose, e.PerNode, e.Nodes)
	case runbook.LockNodes:
		return nil, x.LockNodes(ctx, e.Nodes, e.Resume)
	case runbook.UnlockNodes:
		return nil, x.UnlockNodes(ctx, e.Nodes)
	case runbook.VerifyBackupSet:
		return nil, x.VerifyBackupSet(ctx, e.Set, e.Nodes)
	case runbook.NodeAction:
		return x.nodeAction(ctx, e)
	case runbook.CloudDescribe, runbook.CloudCancelRefresh, runbook.CloudNewTemplate, runbook.CloudSetTemplate, runbook.CloudFreeze, runbook.CloudThaw,
		runbook.CloudSurge, runbook.CloudRetire, runbook.RemoveMember:
		return x.cloudEffect(ctx, e)
	}
	return nil, fmt.Errorf("executor: effect %s (%T) is not asynchronous", e.Kind(), e)
}

// nodeAction performs one typed node operation.
func (x *Executor) nodeAction(ctx context.Context, e runbook.NodeAction) (any, error) {
	switch e.Op {
	case runbook.OpStage:
		return nil, x.Stage(ctx, e.Node, e.SHA256)
	case runbook.OpBackup:
		return x.Backup(ctx, e.Node, e.Backup)
	case runbook.OpStop, runbook.OpStart, runbook.OpKeepPrev, runbook.OpSwap, runbook.OpRestorePrev:
		r := x.PerformChain(ctx, []runbook.NodeAction{e})[0].(runbook.EffectResult)
		return r.Data, r.Err
	case runbook.OpUnstage:
		return nil, x.Unstage(ctx, e.Node, e.SHA256)
	}
	return nil, fmt.Errorf("executor: node operation %s is not known", e.Op)
}

// dropIdleConnections closes the pooled HTTPS connections to node, so
// none holds its graceful shutdown open: a server waits for its open
// connections (up to its grace, 1 s for Neuwerk) before it exits.
func (x *Executor) dropIdleConnections(node string) {
	for _, c := range x.Clients() {
		if c.Name() == node {
			c.CloseIdleConnections()
		}
	}
}

// recentFiles answers the run's first ReadNodeFiles of every node from
// what Connect read a moment ago (the survey the plan was built from),
// sparing an SSH round; any later read goes to the nodes.
func (x *Executor) recentFiles(names []string) ([]runbook.NodeFiles, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.connectFilesAt.IsZero() || time.Since(x.connectFilesAt) > 3*time.Second || len(names) != len(x.nodes) {
		return nil, false
	}
	x.connectFilesAt = time.Time{} // once
	out := make([]runbook.NodeFiles, 0, len(names))
	for _, n := range names {
		f, ok := x.files[n]
		if !ok {
			return nil, false
		}
		out = append(out, f)
	}
	return out, true
}

// Apply performs a synchronous effect: Record (written to the journal and
// fsync'd before returning), SaveBaseline and Finish (nothing to do).
func (x *Executor) Apply(e runbook.Effect) error {
	switch e := e.(type) {
	case runbook.Record:
		return x.record(e)
	case runbook.SaveBaseline:
		_, err := x.SaveBaseline(e.Snap)
		return err
	case runbook.Finish:
		return nil
	}
	return fmt.Errorf("executor: effect %s (%T) is not synchronous", e.Kind(), e)
}

func (x *Executor) record(r runbook.Record) error {
	if x.cfg.Journal == nil {
		return nil
	}
	en := journal.EntryOf(r)
	en.Effect = uint64(r.For)
	if r.Type == runbook.RecordIntent && r.Op == runbook.RecordOpRun && r.Node == "" {
		// What resume needs to continue this run: the release, the options.
		en.Run = x.cfg.Run
		if x.cfg.RunRelease != nil {
			rel := *x.cfg.RunRelease
			en.Release = &rel
		}
	}
	return x.cfg.Journal.Append(en)
}

// journalEvent writes an event of the executor's own (a broken lock).
func (x *Executor) journalEvent(e journal.Entry) {
	if x.cfg.Journal == nil {
		return
	}
	e.Kind, e.OK = journal.Event, true
	_ = x.cfg.Journal.Append(e)
}

// SetBreakLock sets Config.BreakLock: take over a lock another run holds.
func (x *Executor) SetBreakLock(breakLock bool) { x.cfg.BreakLock = breakLock }

// SetBackupSetID sets Config.BackupSetID: continue this backup set.
func (x *Executor) SetBackupSetID(id string) { x.cfg.BackupSetID = id }

// SetReusedRun says the journal continues an earlier run (resume,
// rollback), so its run id may already hold the lock.
func (x *Executor) SetReusedRun() { x.reusedRun = true }

// ForEach runs f for every named node in parallel and joins the errors in
// node order.
func (x *Executor) ForEach(names []string, f func(name string) error) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(name)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Identify names a build by sha256: the catalog's version, a known build's,
// or "" when none matches.
func (x *Executor) Identify(sha string) runbook.BuildRef {
	sha = runbook.NormSHA(sha)
	if sha == "" {
		return runbook.BuildRef{}
	}
	if r, ok := x.cfg.Catalog.Lookup(sha); ok {
		return runbook.BuildRef{Version: r.Version, SHA256: sha}
	}
	if r := x.cfg.Release; r != nil && r.SHA256 == sha {
		return runbook.BuildRef{Version: r.Version, SHA256: sha}
	}
	for _, k := range x.cfg.Known {
		if runbook.NormSHA(k.SHA256) == sha && k.Version != "" {
			return runbook.BuildRef{Version: k.Version, SHA256: sha}
		}
	}
	return runbook.BuildRef{SHA256: sha}
}

// clusterStateDir is StateDir/<cluster>, created 0700.
func (x *Executor) clusterStateDir(sub string) (string, error) {
	if x.cfg.StateDir == "" {
		return "", errors.New("no state directory (set XDG_STATE_HOME or HOME)")
	}
	d, err := journal.ClusterStateDir(x.cfg.StateDir, x.inv.Cluster)
	if err != nil {
		return "", err
	}
	if err := journal.Mkdir(x.cfg.StateDir); err != nil {
		return "", err
	}
	if err := journal.Mkdir(d); err != nil {
		return "", err
	}
	if sub != "" {
		d = d + string(os.PathSeparator) + sub
		if err := journal.Mkdir(d); err != nil {
			return "", err
		}
	}
	return d, nil
}

// runTag names files of this run: <UTC ts>-<run id>.
func (x *Executor) runTag() string {
	tag := time.Now().UTC().Format("20060102T150405Z")
	if x.holder.RunID != "" {
		tag += "-" + x.holder.RunID
	}
	return tag
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lastLine is the last non-empty line of s, clipped.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 300 {
		l = l[:300] + "…"
	}
	return l
}
