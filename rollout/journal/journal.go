package journal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The journal (design §3 "Journal") is an append-only JSON-lines file per
// run under $XDG_STATE_HOME/nwroll/<cluster>/. Each intent is written and
// fsync'd before its effect runs and each outcome after, so a run killed at
// any moment leaves a record of what may have been in flight. The "current"
// file in the same directory names the newest run's file.

// Kind says what an entry records.
type Kind string

const (
	Intent   Kind = "intent"   // an effect is about to run
	Outcome  Kind = "outcome"  // an effect finished (OK or Error)
	Event    Kind = "event"    // something observed (gate result, leader change, note)
	Approval Kind = "approval" // an operator approved a step (ApprovedBy, GateValues shown)
)

// Release is the move a run makes.
type Release struct {
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Entry is one line of the journal. Append fills TS, RunID, Seq and
// Cluster, and scrubs every string of anything that looks like a token.
type Entry struct {
	TS         time.Time         `json:"ts"`
	RunID      string            `json:"run_id"`
	Seq        int64             `json:"seq"`
	Kind       Kind              `json:"kind"`
	Cluster    string            `json:"cluster,omitempty"`
	StepID     string            `json:"step_id,omitempty"`
	Node       string            `json:"node,omitempty"`
	Op         string            `json:"op,omitempty"`
	Effect     uint64            `json:"effect,omitempty"` // the machine's effect id, linking an outcome to its intent
	Detail     string            `json:"detail,omitempty"`
	OK         bool              `json:"ok"`              // outcomes: whether the effect succeeded
	Error      string            `json:"error,omitempty"` // outcomes: why not
	GateValues map[string]string `json:"gate_values,omitempty"`
	ApprovedBy string            `json:"approved_by,omitempty"` // approvals: user@host
	Release    *Release          `json:"release,omitempty"`

	// Typed records, each on the entry it belongs to.
	Run      *RunRecord    `json:"run,omitempty"`           // the run's intent: what resume and rollback need
	ExitCode *int          `json:"exit_code,omitempty"`     // the run's outcome
	Backup   *BackupRecord `json:"backup,omitempty"`        // a backup's outcome
	Build    *BuildRecord  `json:"build,omitempty"`         // a swap's outcome: the build put in place
	Holder   string        `json:"holder_run_id,omitempty"` // lock-broken: the run whose lock was broken
	// Cloud is a cloud effect's intent or outcome (cloud mode).
	Cloud *runbook.CloudRecord `json:"cloud,omitempty"`
}

// BuildRecord is a build of the binary: its release, or "" when unknown.
type BuildRecord struct {
	Version string `json:"version,omitempty"`
	SHA256  string `json:"sha256"`
}

// RunRecord is what a run's intent records for resume and rollback: the
// release, the options, and every build seen at the start.
type RunRecord struct {
	ReleaseSource string        `json:"release_source"`
	StartedBy     string        `json:"started_by,omitempty"` // user@host
	Release       BuildRecord   `json:"release"`
	Backup        string        `json:"backup"`
	BackupSet     string        `json:"backup_set,omitempty"`
	NoRollback    bool          `json:"no_rollback,omitempty"`
	Bake          Duration      `json:"bake,omitempty"`
	Builds        []BuildRecord `json:"builds,omitempty"`

	// AllowUnknownBuild: --yes accepts a node on a build that matches no
	// release manifest (--allow-unknown-build).
	AllowUnknownBuild bool `json:"allow_unknown_build,omitempty"`

	// PauseBefore: the run stops before these nodes' upgrades
	// (--pause-before; "leader" for the leader's).
	PauseBefore []string `json:"pause_before,omitempty"`

	// Cloud: the run replaces the instances of a group (cloud mode).
	Cloud *CloudRun `json:"cloud,omitempty"`
}

// CloudRun is what a cloud run's intent records: the group, its size and
// the template version and image it launched before the run, which a
// rollback returns to, and the target release's image.
type CloudRun struct {
	Provider    string              `json:"provider"`
	Group       string              `json:"group"`
	Size        int                 `json:"size"`
	From        runbook.CloudRecord `json:"from"` // template id, name, version and image
	FromRelease string              `json:"from_release,omitempty"`
	Image       string              `json:"image"`
	Observe     bool                `json:"observe,omitempty"` // --observe: the run watched the operator's instance refresh
	ImageName   string              `json:"image_name,omitempty"`
}

// Duration is a time.Duration written as Go writes one ("20s").
type Duration time.Duration

// MarshalText writes "20s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// BackupRecord is a backup's archive.
type BackupRecord struct {
	Set    string `json:"set"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Journal is an open run file. It is safe for concurrent use.
type Journal struct {
	mu      sync.Mutex
	f       *os.File
	path    string
	runID   string
	cluster string
	seq     int64
	now     func() time.Time
}

// Path is the run file.
func (j *Journal) Path() string { return j.path }

// RunID is the run's id, also written into the node locks.
func (j *Journal) RunID() string { return j.runID }

// Close closes the run file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// DefaultStateDir is $XDG_STATE_HOME/nwroll, or ~/.local/state/nwroll when
// XDG_STATE_HOME is unset or not absolute (as the XDG spec asks).
func DefaultStateDir() (string, error) {
	if x := os.Getenv("XDG_STATE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "nwroll"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory: set XDG_STATE_HOME or HOME (%v)", err)
	}
	return filepath.Join(home, ".local", "state", "nwroll"), nil
}

// ClusterStateDir is stateDir/<cluster>, the cluster's journal directory.
func ClusterStateDir(stateDir, cluster string) (string, error) {
	if cluster == "" || cluster == "." || cluster == ".." || strings.ContainsAny(cluster, "/\\\x00") {
		return "", fmt.Errorf("cluster name %q cannot name a state directory; use letters, digits, '.', '-' or '_'", cluster)
	}
	return filepath.Join(stateDir, cluster), nil
}

const journalCurrentFile = "current"

// Open starts a new run: it creates
// stateDir/<cluster>/run-<UTC timestamp>-<run id>.jsonl (mode 0600, in a
// directory of mode 0700) and points stateDir/<cluster>/current at it.
func Open(stateDir, cluster string) (*Journal, error) {
	dir, err := ClusterStateDir(stateDir, cluster)
	if err != nil {
		return nil, err
	}
	if err := Mkdir(dir); err != nil {
		return nil, err
	}
	runID, err := NewRunID()
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	name := fmt.Sprintf("run-%s-%s.jsonl", now.Format("20060102T150405Z"), runID)
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := journalWriteCurrent(dir, name); err != nil {
		f.Close()
		return nil, err
	}
	return &Journal{f: f, path: p, runID: runID, cluster: cluster, now: time.Now}, nil
}

// Reopen continues an existing run file (for resume): later entries
// keep its run id and continue its seq. A torn last line left by a kill is
// cut off first, so new entries start on a line of their own.
func Reopen(p string) (*Journal, error) {
	entries, good, err := journalRead(p)
	var torn *TornError
	if err != nil && !errors.As(err, &torn) {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if torn != nil {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal %s: cut off the torn last line: %w", p, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{f: f, path: p, now: time.Now}
	if n := len(entries); n > 0 {
		j.runID, j.cluster, j.seq = entries[n-1].RunID, entries[n-1].Cluster, entries[n-1].Seq
	}
	if j.runID == "" {
		j.runID = journalRunIDFromName(filepath.Base(p))
	}
	if j.cluster == "" {
		j.cluster = filepath.Base(filepath.Dir(p))
	}
	return j, nil
}

func journalRunIDFromName(name string) string {
	name = strings.TrimSuffix(strings.TrimPrefix(name, "run-"), ".jsonl")
	if i := strings.LastIndexByte(name, '-'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// NewRunID returns 8 random hex digits.
func NewRunID() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make a run id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Mkdir creates dir and its parents and makes dir mode 0700.
func Mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// journalFsyncDir makes a directory entry (a create or rename) durable.
func journalFsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteAtomic writes data to p (mode 0600) by rename, fsyncing the
// file and the directory.
func WriteAtomic(p string, data []byte) error {
	dir := filepath.Dir(p)
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	ok = true
	return journalFsyncDir(dir)
}

func journalWriteCurrent(dir, name string) error {
	if err := WriteAtomic(filepath.Join(dir, journalCurrentFile), []byte(name+"\n")); err != nil {
		return fmt.Errorf("journal: point %s at %s: %w", journalCurrentFile, name, err)
	}
	return nil
}

// Append writes e as one line and fsyncs it before returning. It sets TS
// (if zero), RunID, Seq and Cluster (if empty), and scrubs tokens from every
// string.
func (j *Journal) Append(e Entry) error {
	_, err := j.AppendEntry(e)
	return err
}

// AppendEntry is Append that also returns the entry as written (with its
// seq), so an outcome can be matched to its intent.
func (j *Journal) AppendEntry(e Entry) (Entry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return e, errors.New("journal: append to a closed journal")
	}
	switch e.Kind {
	case Intent, Outcome, Event, Approval:
	default:
		return e, fmt.Errorf("journal: entry kind %q is not intent, outcome, event or approval", e.Kind)
	}
	if e.TS.IsZero() {
		e.TS = j.now()
	}
	e.TS = e.TS.UTC()
	e.RunID = j.runID
	if e.Cluster == "" {
		e.Cluster = j.cluster
	}
	e.Seq = j.seq + 1
	e = ScrubEntry(e)
	b, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("journal: %w", err)
	}
	b = append(b, '\n')
	if _, err := j.f.Write(b); err != nil {
		return e, fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return e, fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	j.seq = e.Seq
	return e, nil
}

// Token shapes scrubbed from every journal string: JWTs (three base64url
// segments, the first a JSON header starting "eyJ"), Authorization bearer
// values, and KEY=value pairs whose key ends in TOKEN.
var (
	journalJWT      = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)
	journalBearer   = regexp.MustCompile(`(?i)\b(bearer)\s+[^\s"',;]+`)
	journalTokenKey = regexp.MustCompile(`(?i)\b([A-Z0-9_]*TOKEN)=[^\s"',;]+`)
)

// ScrubString removes anything that looks like a token from s.
func ScrubString(s string) string {
	if s == "" {
		return s
	}
	s = journalJWT.ReplaceAllString(s, "[redacted-jwt]")
	s = journalBearer.ReplaceAllString(s, "$1 [redacted]")
	s = journalTokenKey.ReplaceAllString(s, "$1=[redacted]")
	return s
}

// ScrubEntry scrubs tokens from every string of e, map keys and nested
// records included (a walk over its fields, so a new field cannot be
// forgotten). e is not changed: pointers, maps and slices are copied.
func ScrubEntry(e Entry) Entry {
	v := reflect.ValueOf(&e).Elem()
	scrubValue(v)
	return e
}

func scrubValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(ScrubString(v.String()))
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				scrubValue(v.Field(i))
			}
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(v.Elem())
		scrubValue(c.Elem())
		v.Set(c)
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := 0; i < c.Len(); i++ {
			scrubValue(c.Index(i))
		}
		v.Set(c)
	case reflect.Map:
		if v.IsNil() {
			return
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			k := reflect.New(v.Type().Key()).Elem()
			k.Set(it.Key())
			val := reflect.New(v.Type().Elem()).Elem()
			val.Set(it.Value())
			scrubValue(k)
			scrubValue(val)
			c.SetMapIndex(k, val)
		}
		v.Set(c)
	}
}

// GateValues turns gate values as a gate reports them into the
// entry's map.
func GateValues(vals []health.GateValue) map[string]string {
	if len(vals) == 0 {
		return nil
	}
	m := make(map[string]string, len(vals))
	for _, v := range vals {
		m[v.Name] = v.Value.String()
	}
	return m
}

// CurrentOperator is "user@host" for approvals and locks, from os/user and
// the hostname; parts that cannot be learned read "unknown".
func CurrentOperator() string {
	u, h := OperatorUser(), OperatorHost()
	return u + "@" + h
}

// OperatorUser is the local user name ($USER as a fallback), or "unknown".
func OperatorUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

// OperatorHost is the local host name, or "unknown".
func OperatorHost() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "unknown"
}

// TornError reports an incomplete last line (a kill -9 in the middle
// of a write, or junk after a crash). The entries before it are good and
// are returned with it; the line is ignored. Use errors.As.
type TornError struct {
	Path   string
	Line   int   // 1-based line number of the torn line
	Offset int64 // where the good part of the file ends
	Bytes  int   // length of the ignored tail
}

func (e *TornError) Error() string {
	return fmt.Sprintf("journal %s: ignored an incomplete last line (line %d, %d bytes): the run was killed while writing it",
		e.Path, e.Line, e.Bytes)
}

// Read reads a run file. An incomplete last line is ignored and
// reported as a *TornError alongside the good entries; any other bad
// line is an error naming it.
func Read(p string) ([]Entry, error) {
	entries, _, err := journalRead(p)
	return entries, err
}

// journalRead also returns the length of the good part of the file.
func journalRead(p string) ([]Entry, int64, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, 0, fmt.Errorf("journal: %w", err)
	}
	var (
		entries []Entry
		off     int64
		line    int
	)
	for len(data) > 0 {
		line++
		i := bytes.IndexByte(data, '\n')
		last := i < 0 || len(bytes.TrimRight(data[i+1:], "\x00 \t\r\n")) == 0
		var raw []byte
		if i < 0 {
			raw = data
		} else {
			raw = data[:i]
		}
		var e Entry
		perr := journalDecodeLine(raw, &e)
		switch {
		case i < 0 || (perr != nil && last):
			// Unterminated (Append never finished it, so nothing acted on
			// it), or a terminated but unreadable final line.
			tail := len(data)
			return entries, off, &TornError{Path: p, Line: line, Offset: off, Bytes: tail}
		case perr != nil:
			return entries, off, fmt.Errorf("journal %s line %d is damaged (%v); the file was edited or corrupted — move it aside to start afresh", p, line, perr)
		}
		entries = append(entries, e)
		off += int64(i + 1)
		data = data[i+1:]
		if last && len(data) > 0 {
			// Only NUL/blank junk remains after the last good line.
			return entries, off, &TornError{Path: p, Line: line + 1, Offset: off, Bytes: len(data)}
		}
	}
	return entries, off, nil
}

func journalDecodeLine(raw []byte, e *Entry) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return errors.New("empty line")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(e); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("text after the JSON object")
	}
	if e.RunID == "" || e.Seq <= 0 || e.Kind == "" {
		return errors.New("not a journal entry (no run_id, seq or kind)")
	}
	return nil
}

// Run is a run file read back.
type Run struct {
	Path    string
	RunID   string
	Entries []Entry
	Torn    *TornError // non-nil if an incomplete last line was ignored
}

// ErrNoRun means a cluster has no journal yet.
var ErrNoRun = errors.New("no journal run")

// LatestRun reads the cluster's current run: the file "current" names, or
// failing that the newest run-*.jsonl by name.
func LatestRun(stateDir, cluster string) (*Run, error) {
	dir, err := ClusterStateDir(stateDir, cluster)
	if err != nil {
		return nil, err
	}
	p := ""
	if b, err := os.ReadFile(filepath.Join(dir, journalCurrentFile)); err == nil {
		name := strings.TrimSpace(string(b))
		if journalIsRunName(name) {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				p = filepath.Join(dir, name)
			}
		}
	}
	if p == "" {
		runs, err := ListRuns(stateDir, cluster)
		if err != nil {
			return nil, err
		}
		if len(runs) == 0 {
			return nil, fmt.Errorf("%w for cluster %s in %s", ErrNoRun, cluster, dir)
		}
		p = runs[len(runs)-1]
	}
	return ReadRun(p)
}

// ReadRun reads one run file into a Run.
func ReadRun(p string) (*Run, error) {
	entries, err := Read(p)
	run := &Run{Path: p, Entries: entries, RunID: journalRunIDFromName(filepath.Base(p))}
	if err != nil && !errors.As(err, &run.Torn) {
		return nil, err
	}
	if len(entries) > 0 {
		run.RunID = entries[0].RunID
	}
	return run, nil
}

// ListRuns lists the cluster's run files, oldest first.
func ListRuns(stateDir, cluster string) ([]string, error) {
	dir, err := ClusterStateDir(stateDir, cluster)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("journal: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && journalIsRunName(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

func journalIsRunName(n string) bool {
	return strings.HasPrefix(n, "run-") && strings.HasSuffix(n, ".jsonl") && !strings.ContainsAny(n, "/\\")
}

// RunProgress summarises a journal for resume and rollback.
type RunProgress struct {
	RunID        string  // of the last entry
	Cluster      string  // of the last entry that names one
	Release      Release // the last release an entry named
	Started      bool    // a run intent was seen
	Finished     bool    // the last run intent has its outcome
	FinishedOK   bool    // …and it was OK
	Nodes        map[string]*NodeProgress
	NodeOrder    []string // nodes in the order the journal first names them
	UpgradeOrder []string // nodes now counted as upgraded, in the order they were swapped
	RolledBack   []string // nodes whose swap was undone, in the order of rollback
	InFlight     []Entry  // intents with no outcome, in order: what a kill interrupted
	Approvals    []Entry  // who approved what, with the gate values shown
	Last         *Entry   // the last entry
}

// NodeProgress is one node's part of a run.
type NodeProgress struct {
	Node       string
	Completed  []string // ops whose outcome was OK, in order
	Failed     []string // ops whose outcome was not OK, in order
	InFlight   []string // ops with an intent and no outcome (the node's real state must be re-read)
	Upgraded   bool     // its last swap succeeded and was not rolled back
	RolledBack bool     // a rollback succeeded after its swap
}

type journalOpKey struct {
	run, step, node, op string
	effect              uint64
}

// Progress summarises entries (one run, or several runs in order).
// An outcome closes the latest open intent with the same run, step, node,
// op and effect id. It is pure.
func Progress(entries []Entry) RunProgress {
	rp := RunProgress{Nodes: map[string]*NodeProgress{}}
	openIntents := map[journalOpKey][]int{}
	node := func(name string) *NodeProgress {
		np, ok := rp.Nodes[name]
		if !ok {
			np = &NodeProgress{Node: name}
			rp.Nodes[name] = np
			rp.NodeOrder = append(rp.NodeOrder, name)
		}
		return np
	}
	remove := func(list []string, s string) []string {
		out := list[:0:0]
		for _, x := range list {
			if x != s {
				out = append(out, x)
			}
		}
		return out
	}
	targetImage := "" // cloud mode: the image the run launches
	for i := range entries {
		e := entries[i]
		rp.RunID = e.RunID
		if e.Run != nil && e.Run.Cloud != nil {
			targetImage = e.Run.Cloud.Image
		}
		if e.Cluster != "" {
			rp.Cluster = e.Cluster
		}
		if e.Release != nil && (e.Release.To != "" || e.Release.From != "") {
			rp.Release = *e.Release
		}
		if e.Node != "" {
			node(e.Node)
		}
		key := journalOpKey{e.RunID, e.StepID, e.Node, e.Op, e.Effect}
		switch e.Kind {
		case Intent:
			openIntents[key] = append(openIntents[key], i)
			if e.Op == runbook.RecordOpRun && e.Node == "" {
				rp.Started, rp.Finished, rp.FinishedOK = true, false, false
			}
		case Outcome:
			if st := openIntents[key]; len(st) > 0 {
				openIntents[key] = st[:len(st)-1]
			}
			if e.Op == runbook.RecordOpRun && e.Node == "" {
				rp.Finished, rp.FinishedOK = true, e.OK
			}
			if c := e.Cloud; e.Op == "surge" && e.OK && c != nil && c.Instance != "" && c.Image == targetImage {
				// Cloud mode: a launched instance on the target is an upgraded node.
				node(c.Instance).Upgraded = true
				rp.UpgradeOrder = append(remove(rp.UpgradeOrder, c.Instance), c.Instance)
			}
			if e.Node == "" {
				break
			}
			np := node(e.Node)
			if !e.OK {
				np.Failed = append(np.Failed, e.Op)
				break
			}
			np.Completed = append(np.Completed, e.Op)
			switch e.Op {
			case runbook.RecordOpSwap:
				np.Upgraded, np.RolledBack = true, false
				rp.UpgradeOrder = append(remove(rp.UpgradeOrder, e.Node), e.Node)
				rp.RolledBack = remove(rp.RolledBack, e.Node)
			case runbook.RecordOpRollback, "retire": // a launched instance retired again is rolled back
				if np.Upgraded {
					np.Upgraded, np.RolledBack = false, true
					rp.UpgradeOrder = remove(rp.UpgradeOrder, e.Node)
					rp.RolledBack = append(remove(rp.RolledBack, e.Node), e.Node)
				}
			}
		case Approval:
			rp.Approvals = append(rp.Approvals, e)
		}
	}
	var inflight []int
	for _, st := range openIntents {
		inflight = append(inflight, st...)
	}
	sort.Ints(inflight)
	for _, i := range inflight {
		e := entries[i]
		rp.InFlight = append(rp.InFlight, e)
		if e.Node != "" {
			np := node(e.Node)
			np.InFlight = append(np.InFlight, e.Op)
		}
	}
	if n := len(entries); n > 0 {
		last := entries[n-1]
		rp.Last = &last
	}
	return rp
}
