package journal

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/runbook"
)

const journalChildEnv = "NWROLL_TEST_JOURNAL_CHILD"

// journalTestChild runs in a child copy of the test binary: it opens a
// journal in $NWROLL_TEST_JOURNAL_CHILD, appends entries, says how many on
// stdout after each, and then waits to be killed with SIGKILL.
func journalTestChild() int {
	dir := os.Getenv(journalChildEnv)
	n, _ := strconv.Atoi(os.Getenv("NWROLL_TEST_JOURNAL_N"))
	j, err := Open(dir, "prod")
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	for i := 1; i <= n; i++ {
		if err := j.Append(Entry{Kind: Intent, Node: "fw-" + strconv.Itoa(i), Op: "stop"}); err != nil {
			fmt.Println("error", err)
			return 1
		}
	}
	fmt.Println("appended", n, j.Path())
	if os.Getenv("NWROLL_TEST_JOURNAL_TEAR") != "" {
		// What a kill in the middle of a write leaves: half a line.
		f, _ := os.OpenFile(j.Path(), os.O_WRONLY|os.O_APPEND, 0)
		f.WriteString(`{"ts":"2026-11-23T10:15:00Z","run_id":"` + j.RunID() + `","seq":99,"kind":"outc`)
		f.Close()
		fmt.Println("torn")
	}
	time.Sleep(time.Hour)
	return 0
}

func jnTestOpen(t *testing.T) (*Journal, string) {
	t.Helper()
	state := filepath.Join(t.TempDir(), "state", "nwroll")
	j, err := Open(state, "prod")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, state
}

func TestJournalRoundTrip(t *testing.T) {
	j, state := jnTestOpen(t)
	at := time.Date(2026, 11, 23, 10, 15, 0, 0, time.FixedZone("CET", 3600))
	in := []Entry{
		{Kind: Intent, Op: runbook.RecordOpRun, Release: &Release{From: "1.0.0", To: "1.1.0"}, TS: at},
		{Kind: Approval, StepID: "upgrade/fw-b", Node: "fw-b", ApprovedBy: "alice@ops-1",
			GateValues: map[string]string{"quorum": "3 voters, 2 stay up, quorum 2", "lag": "0"}},
		{Kind: Intent, StepID: "upgrade/fw-b", Node: "fw-b", Op: "stop", Effect: 7},
		{Kind: Outcome, StepID: "upgrade/fw-b", Node: "fw-b", Op: "stop", Effect: 7, OK: true, Detail: "inactive after 1.2s"},
		{Kind: Event, Op: "lock-broken", Detail: "broke the lock held by bob@ops-2", Holder: "0badc0de"},
		{Kind: Outcome, Node: "fw-c", Op: "stage", OK: false, Error: "disk full"},
	}
	for _, e := range in {
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Read(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("read %d entries, wrote %d", len(got), len(in))
	}
	for i, e := range got {
		if e.Seq != int64(i+1) || e.RunID != j.RunID() || e.Cluster != "prod" || e.TS.IsZero() || e.TS.Location() != time.UTC {
			t.Errorf("entry %d: seq %d run %q cluster %q ts %v", i, e.Seq, e.RunID, e.Cluster, e.TS)
		}
		want := in[i]
		want.Seq, want.RunID, want.Cluster, want.TS = e.Seq, e.RunID, e.Cluster, e.TS
		if !reflect.DeepEqual(e, want) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, e, want)
		}
	}
	if !got[0].TS.Equal(at) {
		t.Errorf("given ts %v came back as %v", at, got[0].TS)
	}
	// The file name carries the UTC start and the run id, and "current"
	// points at it.
	name := filepath.Base(j.Path())
	if !strings.HasPrefix(name, "run-") || !strings.HasSuffix(name, "-"+j.RunID()+".jsonl") {
		t.Errorf("run file name %q", name)
	}
	cur, err := os.ReadFile(filepath.Join(state, "prod", "current"))
	if err != nil || strings.TrimSpace(string(cur)) != name {
		t.Errorf("current = %q (%v), want %q", cur, err, name)
	}
	if err := j.Append(Entry{Kind: "bogus"}); err == nil {
		t.Error("appended an entry of kind bogus")
	}
	j.Close()
	if err := j.Append(Entry{Kind: Event}); err == nil {
		t.Error("appended to a closed journal")
	}
}

func TestJournalFileModes(t *testing.T) {
	j, state := jnTestOpen(t)
	if err := j.Append(Entry{Kind: Event, Detail: "x"}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		filepath.Join(state, "prod"):            0o700 | os.ModeDir,
		j.Path():                                0o600,
		filepath.Join(state, "prod", "current"): 0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
	// An existing too-open cluster dir is tightened.
	loose := filepath.Join(t.TempDir(), "nwroll")
	os.MkdirAll(filepath.Join(loose, "prod"), 0o755)
	os.Chmod(filepath.Join(loose, "prod"), 0o755)
	j2, err := Open(loose, "prod")
	if err != nil {
		t.Fatal(err)
	}
	j2.Close()
	if fi, _ := os.Stat(filepath.Join(loose, "prod")); fi.Mode().Perm() != 0o700 {
		t.Errorf("cluster dir left at %v", fi.Mode().Perm())
	}
	for _, bad := range []string{"", "..", "a/b", "."} {
		if _, err := Open(loose, bad); err == nil {
			t.Errorf("OpenJournal accepted cluster %q", bad)
		}
	}
}

func TestJournalDefaultStateDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/srv/state")
	if d, _ := DefaultStateDir(); d != "/srv/state/nwroll" {
		t.Errorf("with XDG_STATE_HOME: %s", d)
	}
	t.Setenv("XDG_STATE_HOME", "relative/state") // the XDG spec says to ignore it
	t.Setenv("HOME", "/home/alice")
	if d, _ := DefaultStateDir(); d != "/home/alice/.local/state/nwroll" {
		t.Errorf("fallback: %s", d)
	}
}

// Entries are on disk when Append returns: a child process appends and is
// killed with SIGKILL, and a separate reader finds every entry.
func TestJournalSurvivesKill(t *testing.T) {
	for _, tear := range []bool{false, true} {
		t.Run(fmt.Sprintf("torn=%v", tear), func(t *testing.T) {
			state := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), journalChildEnv+"="+state, "NWROLL_TEST_JOURNAL_N=25")
			if tear {
				cmd.Env = append(cmd.Env, "NWROLL_TEST_JOURNAL_TEAR=1")
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			sc := bufio.NewScanner(out)
			var path string
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 3 && f[0] == "appended" {
					path = f[2]
					if !tear {
						break
					}
				}
				if f[0] == "torn" || f[0] == "error" {
					break
				}
			}
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			cmd.Wait()
			if path == "" {
				t.Fatal("child never reported its journal")
			}
			entries, err := Read(path)
			var torn *TornError
			if tear {
				if !errors.As(err, &torn) || torn.Line != 26 {
					t.Fatalf("want a torn line 26, got %v", err)
				}
				if !strings.Contains(err.Error(), "incomplete last line") {
					t.Errorf("torn message %q", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 25 || entries[24].Seq != 25 || entries[24].Node != "fw-25" {
				t.Fatalf("read %d entries after kill -9; want 25", len(entries))
			}
			run, err := LatestRun(state, "prod")
			if err != nil {
				t.Fatal(err)
			}
			if run.Path != path || len(run.Entries) != 25 || (run.Torn != nil) != tear {
				t.Errorf("LatestRun: path %s entries %d torn %v", run.Path, len(run.Entries), run.Torn)
			}
		})
	}
}

func TestJournalTornLastLineAndReopen(t *testing.T) {
	j, _ := jnTestOpen(t)
	for i := 0; i < 3; i++ {
		if err := j.Append(Entry{Kind: Intent, Node: "fw-a", Op: "op" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	good, _ := os.ReadFile(j.Path())
	for _, tc := range []struct {
		name string
		tail string
		line int
	}{
		{"half a line", `{"ts":"2026-11-23T10:15:00Z","run_id":"x","se`, 4},
		{"unterminated but complete JSON", `{"ts":"2026-11-23T10:15:00Z","run_id":"x","seq":4,"kind":"outcome","ok":true}`, 4},
		{"NUL junk after a crash", strings.Repeat("\x00", 40), 4},
		{"terminated garbage", "{\"ts\":\n", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(j.Path(), append(slices.Clone(good), tc.tail...), 0o600); err != nil {
				t.Fatal(err)
			}
			entries, err := Read(j.Path())
			var torn *TornError
			if !errors.As(err, &torn) {
				t.Fatalf("want *JournalTornError, got %v", err)
			}
			if torn.Line != tc.line || torn.Offset != int64(len(good)) || len(entries) != 3 {
				t.Errorf("torn %+v, %d entries", torn, len(entries))
			}
			// Resume cuts the torn line off and carries on.
			r, err := Reopen(j.Path())
			if err != nil {
				t.Fatal(err)
			}
			if r.RunID() != j.RunID() {
				t.Errorf("reopened run id %q, want %q", r.RunID(), j.RunID())
			}
			if err := r.Append(Entry{Kind: Event, Op: "resumed"}); err != nil {
				t.Fatal(err)
			}
			r.Close()
			entries, err = Read(j.Path())
			if err != nil {
				t.Fatalf("after reopen: %v", err)
			}
			if len(entries) != 4 || entries[3].Seq != 4 || entries[3].Op != "resumed" || entries[3].RunID != j.RunID() || entries[3].Cluster != "prod" {
				t.Errorf("after reopen: %+v", entries)
			}
		})
	}
	// A damaged line that is not the last is an error, not silently skipped.
	lines := strings.SplitAfter(string(good), "\n")
	damaged := lines[0] + "{not json\n" + lines[1] + lines[2]
	os.WriteFile(j.Path(), []byte(damaged), 0o600)
	if _, err := Read(j.Path()); err == nil || !strings.Contains(err.Error(), "line 2 is damaged") {
		t.Errorf("damaged middle line: %v", err)
	}
	if _, err := Reopen(j.Path()); err == nil {
		t.Error("reopened a damaged journal")
	}
}

func TestJournalLatestRun(t *testing.T) {
	state := t.TempDir()
	if _, err := LatestRun(state, "prod"); !errors.Is(err, ErrNoRun) {
		t.Errorf("no runs: %v", err)
	}
	j1, err := Open(state, "prod")
	if err != nil {
		t.Fatal(err)
	}
	j1.Append(Entry{Kind: Event, Detail: "one"})
	j1.Close()
	// A second run within the same second still sorts after by the
	// "current" pointer.
	j2, err := Open(state, "prod")
	if err != nil {
		t.Fatal(err)
	}
	j2.Append(Entry{Kind: Event, Detail: "two"})
	j2.Close()
	run, err := LatestRun(state, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if run.RunID != j2.RunID() || run.Entries[0].Detail != "two" {
		t.Errorf("latest run %s, want %s", run.RunID, j2.RunID())
	}
	runs, _ := ListRuns(state, "prod")
	if len(runs) != 2 {
		t.Errorf("ListJournalRuns = %v", runs)
	}
	// Without the pointer, the newest by name wins.
	os.Remove(filepath.Join(state, "prod", "current"))
	old := filepath.Join(state, "prod", "run-20000101T000000Z-00000000.jsonl")
	os.WriteFile(old, nil, 0o600)
	run, err = LatestRun(state, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if run.Path == old {
		t.Errorf("picked the oldest run %s", run.Path)
	}
	// A pointer to a missing file falls back too.
	os.WriteFile(filepath.Join(state, "prod", "current"), []byte("run-gone.jsonl\n"), 0o600)
	if run, err = LatestRun(state, "prod"); err != nil || run.Path == old {
		t.Errorf("dangling current: %v %v", run, err)
	}
}

func jnTestJWT(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"sub": "nwroll", "roles": []string{"admin"}, "exp": time.Now().Add(30 * time.Minute).Unix(),
	}).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestJournalScrubsTokens(t *testing.T) {
	j, _ := jnTestOpen(t)
	tok := jnTestJWT(t)
	secret := "s3cr3t-opaque-value"
	entries := []Entry{
		{Kind: Outcome, Node: "fw-a", Op: "mint-token", OK: true, Detail: "minted " + tok},
		{Kind: Outcome, Node: "fw-a", Op: "poll", Error: `GET /ready: 401 (sent "Authorization: Bearer ` + tok + `")`},
		{Kind: Outcome, Node: "fw-a", Op: "poll", Error: "authorization: bearer " + secret + ", retrying"},
		{Kind: Approval, StepID: "s", ApprovedBy: "alice@ops-1", GateValues: map[string]string{"token": tok, tok: "as a key", "env": "NEUWERK_TOKEN=" + secret}},
		{Kind: Intent, Run: &RunRecord{ReleaseSource: "curl -H 'Authorization: Bearer " + secret + "'"}, Release: &Release{From: tok, To: "1.1.0"}},
	}
	for _, e := range entries {
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	for _, leak := range []string{tok, parts[1], parts[2], secret} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("journal holds %q:\n%s", leak, raw)
		}
	}
	for _, want := range []string{"minted [redacted-jwt]", "Bearer [redacted]", "bearer [redacted], retrying", "NEUWERK_TOKEN=[redacted]", `"approved_by":"alice@ops-1"`, `"to":"1.1.0"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("journal lacks %q:\n%s", want, raw)
		}
	}
	// Plain words survive.
	for _, s := range []string{"fw-a: stop ok, 3 voters, bearer", "token minted (ttl 30m)", "eyJ alone"} {
		if got := ScrubString(s); got != s {
			t.Errorf("ScrubJournalString(%q) = %q", s, got)
		}
	}
}

// Every string anywhere in Entry is scrubbed: a field added later
// without scrubbing fails this test.
func TestJournalScrubCoversEveryField(t *testing.T) {
	tok := jnTestJWT(t)
	var e Entry
	jnTestFill(reflect.ValueOf(&e).Elem(), "x "+tok+" y")
	e.Kind = Event
	j, _ := jnTestOpen(t)
	if err := j.Append(e); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(j.Path())
	if strings.Contains(string(raw), tok) {
		t.Errorf("a field kept the token:\n%s", raw)
	}
	if n := strings.Count(string(raw), "[redacted-jwt]"); n < 10 {
		t.Errorf("only %d fields were filled and scrubbed:\n%s", n, raw)
	}
}

func jnTestFill(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				jnTestFill(v.Field(i), s)
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		jnTestFill(v.Elem(), s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		val := reflect.New(v.Type().Elem()).Elem()
		jnTestFill(k, s+" key")
		jnTestFill(val, s)
		m.SetMapIndex(k, val)
		v.Set(m)
	case reflect.Slice:
		sl := reflect.MakeSlice(v.Type(), 1, 1)
		jnTestFill(sl.Index(0), s)
		v.Set(sl)
	}
}

func TestJournalGateValues(t *testing.T) {
	got := GateValues([]health.GateValue{{Name: "matched_index", Value: health.Count(120)}, {Name: "leader_last_log_index", Value: health.Count(118)}})
	if !reflect.DeepEqual(got, map[string]string{"matched_index": "120", "leader_last_log_index": "118"}) {
		t.Errorf("JournalGateValues = %v", got)
	}
	if GateValues(nil) != nil {
		t.Error("no values should give a nil map")
	}
}

func TestCurrentOperator(t *testing.T) {
	op := CurrentOperator()
	u, h, ok := strings.Cut(op, "@")
	if !ok || u == "" || h == "" {
		t.Errorf("CurrentOperator = %q", op)
	}
	if host, _ := os.Hostname(); host != "" && h != host {
		t.Errorf("host part %q, hostname %q", h, host)
	}
}

// jnSeq builds entries of one run with seq numbers.
type jnSeq struct {
	run string
	es  []Entry
}

func (s *jnSeq) add(kind Kind, node, op string, ok bool) *jnSeq {
	s.es = append(s.es, Entry{RunID: s.run, Seq: int64(len(s.es) + 1), Kind: kind, Node: node, Op: op, OK: ok,
		StepID: op + "/" + node, Cluster: "prod"})
	return s
}

// upgradeNode is what the engine journals for one node's upgrade.
func (s *jnSeq) upgradeNode(node string) *jnSeq {
	s.es = append(s.es, Entry{RunID: s.run, Seq: int64(len(s.es) + 1), Kind: Approval, StepID: "upgrade/" + node, Node: node,
		ApprovedBy: "alice@ops-1", GateValues: map[string]string{"quorum": "2 of 3 stay up"}})
	for _, op := range []string{"stop", "keep-prev", runbook.RecordOpSwap, "start", "gates"} {
		s.add(Intent, node, op, false).add(Outcome, node, op, true)
	}
	return s
}

// unfinished: the run stopped before its end, or effects were in flight.
func unfinished(rp RunProgress) bool { return (rp.Started && !rp.Finished) || len(rp.InFlight) > 0 }

func TestJournalProgress(t *testing.T) {
	start := func(run string) *jnSeq {
		s := &jnSeq{run: run}
		s.es = append(s.es, Entry{RunID: run, Seq: 1, Kind: Intent, Op: runbook.RecordOpRun, Cluster: "prod",
			Release: &Release{From: "1.0.0", To: "1.1.0"}})
		for _, n := range []string{"fw-a", "fw-b", "fw-c"} {
			s.add(Intent, n, "stage", false).add(Outcome, n, "stage", true)
		}
		return s
	}
	finish := func(s *jnSeq, ok bool) *jnSeq {
		s.es = append(s.es, Entry{RunID: s.run, Seq: int64(len(s.es) + 1), Kind: Outcome, Op: runbook.RecordOpRun, OK: ok})
		return s
	}

	t.Run("happy path, leader last", func(t *testing.T) {
		s := finish(start("r1").upgradeNode("fw-b").upgradeNode("fw-c").upgradeNode("fw-a"), true)
		p := Progress(s.es)
		if !reflect.DeepEqual(p.UpgradeOrder, []string{"fw-b", "fw-c", "fw-a"}) {
			t.Errorf("UpgradeOrder %v", p.UpgradeOrder)
		}
		if !p.Started || !p.Finished || !p.FinishedOK || unfinished(p) || len(p.InFlight) != 0 {
			t.Errorf("progress %+v", p)
		}
		if p.Release != (Release{From: "1.0.0", To: "1.1.0"}) || p.Cluster != "prod" || p.RunID != "r1" {
			t.Errorf("release %+v cluster %q run %q", p.Release, p.Cluster, p.RunID)
		}
		if len(p.Approvals) != 3 || p.Approvals[0].Node != "fw-b" || p.Approvals[0].GateValues["quorum"] == "" {
			t.Errorf("approvals %+v", p.Approvals)
		}
		if !reflect.DeepEqual(p.NodeOrder, []string{"fw-a", "fw-b", "fw-c"}) {
			t.Errorf("NodeOrder %v", p.NodeOrder)
		}
		b := p.Nodes["fw-b"]
		if !b.Upgraded || b.RolledBack || !reflect.DeepEqual(b.Completed, []string{"stage", "stop", "keep-prev", "swap", "start", "gates"}) {
			t.Errorf("fw-b %+v", b)
		}
	})

	t.Run("killed between swap intent and outcome", func(t *testing.T) {
		s := start("r1").upgradeNode("fw-b")
		s.add(Intent, "fw-c", "stop", false).add(Outcome, "fw-c", "stop", true).
			add(Intent, "fw-c", "keep-prev", false).add(Outcome, "fw-c", "keep-prev", true).
			add(Intent, "fw-c", runbook.RecordOpSwap, false)
		p := Progress(s.es)
		if !unfinished(p) || p.Finished {
			t.Errorf("a killed run reads as finished: %+v", p)
		}
		if !reflect.DeepEqual(p.UpgradeOrder, []string{"fw-b"}) {
			t.Errorf("UpgradeOrder %v", p.UpgradeOrder)
		}
		if len(p.InFlight) != 2 || p.InFlight[0].Op != runbook.RecordOpRun || p.InFlight[1].Node != "fw-c" || p.InFlight[1].Op != runbook.RecordOpSwap {
			t.Errorf("InFlight %+v", p.InFlight)
		}
		c := p.Nodes["fw-c"]
		if c.Upgraded || !reflect.DeepEqual(c.InFlight, []string{runbook.RecordOpSwap}) || !reflect.DeepEqual(c.Completed, []string{"stage", "stop", "keep-prev"}) {
			t.Errorf("fw-c %+v", c)
		}
		if p.Last == nil || p.Last.Op != runbook.RecordOpSwap {
			t.Errorf("Last %+v", p.Last)
		}
	})

	t.Run("gate failure rolled back", func(t *testing.T) {
		s := start("r1").upgradeNode("fw-b")
		for _, op := range []string{"stop", "keep-prev", runbook.RecordOpSwap, "start"} {
			s.add(Intent, "fw-c", op, false).add(Outcome, "fw-c", op, true)
		}
		s.add(Intent, "fw-c", "gates", false).add(Outcome, "fw-c", "gates", false)
		s.add(Intent, "fw-c", runbook.RecordOpRollback, false).add(Outcome, "fw-c", runbook.RecordOpRollback, true)
		finish(s, false)
		p := Progress(s.es)
		if !reflect.DeepEqual(p.UpgradeOrder, []string{"fw-b"}) || !reflect.DeepEqual(p.RolledBack, []string{"fw-c"}) {
			t.Errorf("UpgradeOrder %v RolledBack %v", p.UpgradeOrder, p.RolledBack)
		}
		c := p.Nodes["fw-c"]
		if c.Upgraded || !c.RolledBack || !reflect.DeepEqual(c.Failed, []string{"gates"}) {
			t.Errorf("fw-c %+v", c)
		}
		if !p.Finished || p.FinishedOK || unfinished(p) {
			t.Errorf("finished %v ok %v", p.Finished, p.FinishedOK)
		}
	})

	t.Run("resumed in a second run, then rolled back in a third", func(t *testing.T) {
		r1 := start("r1").upgradeNode("fw-b")
		r1.add(Intent, "fw-c", "stop", false) // killed here
		r2 := &jnSeq{run: "r2"}
		r2.es = append(r2.es, Entry{RunID: "r2", Seq: 1, Kind: Intent, Op: runbook.RecordOpRun, Release: &Release{From: "1.0.0", To: "1.1.0"}})
		r2.add(Event, "fw-c", "observed", true).upgradeNode("fw-c").upgradeNode("fw-a")
		finish(r2, true)
		p := Progress(append(slices.Clone(r1.es), r2.es...))
		if !reflect.DeepEqual(p.UpgradeOrder, []string{"fw-b", "fw-c", "fw-a"}) {
			t.Errorf("UpgradeOrder %v", p.UpgradeOrder)
		}
		// The first run's stop on fw-c stays in flight: only that run's
		// outcome could close it.
		if len(p.InFlight) != 2 || p.InFlight[1].RunID != "r1" || p.InFlight[1].Op != "stop" {
			t.Errorf("InFlight %+v", p.InFlight)
		}
		r3 := &jnSeq{run: "r3"}
		for _, n := range []string{"fw-a", "fw-c", "fw-b"} { // reverse order
			r3.add(Intent, n, runbook.RecordOpRollback, false).add(Outcome, n, runbook.RecordOpRollback, true)
		}
		p = Progress(append(append(slices.Clone(r1.es), r2.es...), r3.es...))
		if len(p.UpgradeOrder) != 0 || !reflect.DeepEqual(p.RolledBack, []string{"fw-a", "fw-c", "fw-b"}) {
			t.Errorf("after rollback: UpgradeOrder %v RolledBack %v", p.UpgradeOrder, p.RolledBack)
		}
	})

	t.Run("effect ids pair outcomes with their intents", func(t *testing.T) {
		es := []Entry{
			{RunID: "r", Seq: 1, Kind: Intent, Node: "fw-a", Op: "poll", Effect: 1},
			{RunID: "r", Seq: 2, Kind: Intent, Node: "fw-a", Op: "poll", Effect: 2},
			{RunID: "r", Seq: 3, Kind: Outcome, Node: "fw-a", Op: "poll", Effect: 1, OK: true},
		}
		p := Progress(es)
		if len(p.InFlight) != 1 || p.InFlight[0].Effect != 2 {
			t.Errorf("InFlight %+v", p.InFlight)
		}
	})

	t.Run("empty", func(t *testing.T) {
		p := Progress(nil)
		if p.Started || unfinished(p) || p.Last != nil || len(p.Nodes) != 0 {
			t.Errorf("%+v", p)
		}
	})
}

// A journal written by Append reads back into the progress the resume
// logic sees.
func TestJournalProgressFromFile(t *testing.T) {
	j, state := jnTestOpen(t)
	j.Append(Entry{Kind: Intent, Op: runbook.RecordOpRun, Release: &Release{From: "1.0.0", To: "1.1.0"}})
	for _, op := range []string{"stop", "keep-prev", runbook.RecordOpSwap} {
		j.Append(Entry{Kind: Intent, StepID: "upgrade/fw-b", Node: "fw-b", Op: op})
		j.Append(Entry{Kind: Outcome, StepID: "upgrade/fw-b", Node: "fw-b", Op: op, OK: true})
	}
	j.Append(Entry{Kind: Intent, StepID: "upgrade/fw-b", Node: "fw-b", Op: "start"})
	run, err := LatestRun(state, "prod")
	if err != nil {
		t.Fatal(err)
	}
	p := Progress(run.Entries)
	if !reflect.DeepEqual(p.UpgradeOrder, []string{"fw-b"}) || !reflect.DeepEqual(p.Nodes["fw-b"].InFlight, []string{"start"}) || p.Release.To != "1.1.0" || p.RunID != j.RunID() {
		t.Errorf("%+v / %+v", p, p.Nodes["fw-b"])
	}
}
