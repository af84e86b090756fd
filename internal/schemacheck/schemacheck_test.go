package schemacheck_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/internal/schemacheck"
	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
)

var (
	t0     = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)
	oldSHA = strings.Repeat("a1", 32)
	newSHA = strings.Repeat("b2", 32)
	oldRel = runbook.BuildRef{Version: "1.0.0", SHA256: oldSHA}
	newRel = runbook.BuildRef{Version: "1.1.0", SHA256: newSHA}
)

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func intp(i int) *int       { return &i }
func u64p(i uint64) *uint64 { return &i }

func mustMap(t testing.TB, doc []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// eventOutput is what `nwroll upgrade --json` prints for a short run that
// pauses before fw-b: the real EventStream numbering and stamping real
// LogEntry values, ending with the summary.
func eventOutput(t testing.TB) []byte {
	t.Helper()
	var out bytes.Buffer
	s := rollout.NewEventStream(&out, true, nil)
	s.Emit(rollout.LogEntry{TS: t0, Type: "note", Op: "inventory", Detail: "cluster lab, 3 nodes"})
	s.SetRun("20250314T092653Z-3f9c")
	s.Emit(rollout.LogEntry{TS: t0, Type: "event", Op: "step-started", Step: "connect"})
	s.Emit(rollout.LogEntry{TS: t0, Node: "fw-a", Type: "effect", Op: "read-files", Step: "identify", Status: "started", Detail: "fw-a"})
	s.Emit(rollout.LogEntry{TS: t0, Node: "fw-a", Type: "effect", Op: "read-files", Step: "identify", Status: "ok", Detail: "fw-a a1a1a1a1", Seconds: 0.042})
	s.Emit(rollout.LogEntry{TS: t0, Node: "fw-a", Type: "effect", Op: "stage", Step: "stage", Status: "failed", Error: "connection reset", Seconds: 1.5})
	s.Emit(rollout.LogEntry{TS: t0, Node: "fw-a", Type: "progress", Op: "stage", Detail: "12 MiB of 48 MiB", Done: 12 << 20, Total: 48 << 20})
	s.Emit(rollout.LogEntry{TS: t0, Node: "fw-a", Type: "gate", Op: "gate post-start", Step: "upgrade/fw-a", Status: "waiting", Detail: "2 of 3 checks hold; waiting for ready"})
	s.Emit(rollout.LogEntry{TS: t0, Node: "fw-a", Type: "gate", Op: "gate post-start", Step: "upgrade/fw-a", Status: "check", Detail: "✓ ready holds"})
	s.Emit(rollout.LogEntry{TS: t0, Node: "fw-a", Type: "gate", Op: "gate post-start", Step: "upgrade/fw-a", Status: "holding", Detail: "every check holds"})
	s.Emit(rollout.LogEntry{TS: t0, Node: "fw-a", Type: "approval", Op: "approved", Step: "upgrade/fw-a", Detail: "upgrade fw-a (approved by ci@runner)"})
	s.Emit(rollout.LogEntry{TS: t0, Node: "fw-b", Type: "event", Op: "paused", Step: "pause-before/fw-b", Detail: "--pause-before fw-b"})
	code := runbook.ExitPaused
	s.Emit(rollout.LogEntry{TS: t0, Type: "finish", Op: "finish", Status: "exit 5", Detail: "paused before fw-b", ExitCode: &code})
	s.Summarize(rollout.RunReport{Cluster: "lab", Command: "upgrade", Outcome: "paused", ExitCode: code, Retry: rollout.RetryAdvice(code),
		Reason: "paused before fw-b", Target: "1.1.0", Next: "nwroll resume -i lab.yaml --run 20250314T092653Z-3f9c --yes",
		Nodes: []rollout.NodeReport{
			{Name: "fw-a", Release: "1.1.0", SHA256: newSHA, Kept: "1.0.0"},
			{Name: "fw-b", Release: "1.0.0", SHA256: oldSHA, Staged: "1.1.0", MayBeStopped: true},
			{Name: "fw-c", Release: "unknown", SHA256: strings.Repeat("c3", 32)},
		},
		Backups:  []rollout.BackupReport{{Node: "fw-a", Set: "bs-1", Path: "/var/backups/fw-a.tar.zst", SHA256: oldSHA}},
		Sysdumps: []rollout.SysdumpReport{{Purpose: "baseline", Path: "/var/lib/nwroll/lab/sysdump-baseline.tar.gz"}},
	}, []string{"fw-a upgraded"})
	return out.Bytes()
}

// refusedOutput is a command that could not start its run.
func refusedOutput(t testing.TB, code int) []byte {
	t.Helper()
	var out bytes.Buffer
	s := rollout.NewEventStream(&out, true, nil)
	s.SummarizeError("upgrade", "", code, errors.New("inventory: no such file"))
	return out.Bytes()
}

func statusDoc(t testing.TB, healthy bool) []byte {
	t.Helper()
	rep := rollout.StatusReport{Schema: rollout.SchemaStatus, Cluster: "lab", TakenAt: t0, Leader: "fw-a", Term: 7,
		Nodes: []rollout.NodeStatusRow{
			{Name: "fw-a", NodeID: "1000000", Role: "leader", Release: "1.0.0", SHA256: oldSHA, Active: true, Ready: true, Lag: u64p(0)},
			{Name: "fw-b", NodeID: "1007919", Role: "follower", Release: "1.0.0", SHA256: oldSHA, Active: true, Ready: true, Lag: u64p(3),
				Staged: "1.1.0", Prev: "0.9.0", Lock: "ci@runner pid 4242", LockRun: "20250314T092653Z-3f9c", LockPID: 4242, LockGone: true},
			{Name: "fw-c", NodeID: "1015838", Role: "unknown", Release: "unknown", Failing: []string{"dial tcp: connection refused"}},
		},
	}
	if !healthy {
		rep.Leader, rep.Term = "", 0
		rep.Notes = []string{"no leader: no node answers as leader"}
		rep.MembersNotInInventory = []rollout.MemberNotInInventory{{NodeID: "1999999", Addr: "10.0.0.9:7000", Voter: true}}
		rep.NodesNotMembers = []rollout.NodeNotMember{{Name: "fw-c", NodeID: "1015838", Addr: "10.0.0.3:8443"}}
	} else {
		rep.Nodes = rep.Nodes[:2]
	}
	rep.Problems = rep.Assess()
	rep.Healthy = len(rep.Problems) == 0
	if rep.Healthy != healthy {
		t.Fatalf("status fixture: healthy %v, problems %q", rep.Healthy, rep.Problems)
	}
	return mustJSON(t, rep)
}

func runsDoc(t testing.TB) []byte {
	t.Helper()
	rep := rollout.RunsReport{Schema: rollout.SchemaRuns, Cluster: "lab", Journal: "/var/lib/nwroll/lab", Unfinished: "r2",
		Runs: []journal.RunSummary{
			{ID: "r2", Path: "/var/lib/nwroll/lab/r2.jsonl", StartedBy: "ci@runner", Started: t0, Ended: t0.Add(time.Minute),
				From: "1.0.0", Target: "1.1.0", Outcome: journal.OutcomeFailed, Reason: "gate post-start failed", ExitCode: intp(1),
				Changes:  []journal.NodeChanges{{Node: "fw-a", Ops: []string{"stage", "swap"}}, {Node: "fw-b", Ops: []string{"stage"}, InFlight: []string{"stop"}}},
				Failure:  "upgrade/fw-b: gate post-start: ready failing",
				Upgraded: []string{"fw-a"}, Stopped: []string{"fw-b"}, LockHeld: true, Unfinished: true},
			{ID: "r1", Path: "/var/lib/nwroll/lab/r1.jsonl", Started: t0.Add(-time.Hour), Ended: t0.Add(-50 * time.Minute),
				Target: "1.1.0", Outcome: journal.OutcomeRefused, ExitCode: intp(3)},
		}}
	return mustJSON(t, rep)
}

func planInput() runbook.PlanInput {
	in := runbook.PlanInput{Cluster: "lab", Target: newRel, Known: []runbook.BuildRef{oldRel, newRel}, Now: t0,
		Options: runbook.PlanOptions{Backup: runbook.BackupLive, Bake: time.Minute, Window: 5 * time.Second, GateTimeout: time.Minute,
			ElectionWindow: 20 * time.Second, PauseBefore: []string{"fw-b"}}}
	for i, name := range []string{"fw-a", "fw-b", "fw-c"} {
		in.Nodes = append(in.Nodes, runbook.PlanNode{Name: name, NodeID: []string{"1000000", "1007919", "1015838"}[i], Voter: true, Leader: i == 0, Current: oldRel})
	}
	return in
}

func planDoc(t testing.TB, in runbook.PlanInput) []byte {
	t.Helper()
	p, err := runbook.BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, rollout.PlanDocument(p))
}

func TestValidDocuments(t *testing.T) {
	t.Run("event", func(t *testing.T) {
		lines := schemacheck.ValidateLines(t, eventOutput(t))
		last := lines[len(lines)-1]
		if last["type"] != "summary" || last["run"] != "20250314T092653Z-3f9c" {
			t.Errorf("last line %v: want the summary of run 20250314T092653Z-3f9c", last)
		}
		if _, ok := lines[0]["run"]; ok {
			t.Errorf("first line %v: run before SetRun", lines[0])
		}
	})
	for _, code := range []int{runbook.ExitUsage, runbook.ExitRefused} {
		t.Run("event/could-not-start", func(t *testing.T) {
			lines := schemacheck.ValidateLines(t, refusedOutput(t, code))
			s := lines[0]["summary"].(map[string]any)
			if _, ok := s["run"]; ok || s["error"] == nil {
				t.Errorf("summary %v: want no run, an error", s)
			}
		})
	}
	t.Run("status/healthy", func(t *testing.T) { schemacheck.Validate(t, "status", statusDoc(t, true)) })
	t.Run("status/unhealthy", func(t *testing.T) { schemacheck.Validate(t, "status", statusDoc(t, false)) })
	t.Run("runs", func(t *testing.T) { schemacheck.Validate(t, "runs", runsDoc(t)) })
	t.Run("runs/empty", func(t *testing.T) {
		schemacheck.Validate(t, "runs", mustJSON(t, rollout.RunsReport{Schema: rollout.SchemaRuns, Cluster: "lab", Journal: "/j", Runs: []journal.RunSummary{}}))
	})
	t.Run("plan", func(t *testing.T) {
		doc := planDoc(t, planInput())
		schemacheck.Validate(t, "plan", doc)
		if m := mustMap(t, doc); len(m["steps"].([]any)) < 5 {
			t.Errorf("plan has %d steps: want a real runbook", len(m["steps"].([]any)))
		}
	})
	t.Run("plan/refused", func(t *testing.T) {
		in := planInput()
		in.MembersErr = errors.New("502 no leader")
		doc := planDoc(t, in)
		if _, ok := mustMap(t, doc)["refusal"]; !ok {
			t.Fatalf("plan without members is not refused: %s", doc)
		}
		schemacheck.Validate(t, "plan", doc)
	})
}

// mutate re-marshals doc after f changed it.
func mutate(t testing.TB, doc []byte, f func(m map[string]any)) []byte {
	t.Helper()
	m := mustMap(t, doc)
	f(m)
	return mustJSON(t, m)
}

func TestInvalidDocuments(t *testing.T) {
	firstLine := func(t testing.TB) []byte { return bytes.SplitN(eventOutput(t), []byte("\n"), 2)[0] }
	summaryLine := func(t testing.TB) []byte {
		ls := bytes.Split(bytes.TrimSpace(eventOutput(t)), []byte("\n"))
		return ls[len(ls)-1]
	}
	docs := map[string]func(testing.TB) []byte{
		"event":  firstLine,
		"status": func(t testing.TB) []byte { return statusDoc(t, true) },
		"runs":   runsDoc,
		"plan":   func(t testing.TB) []byte { return planDoc(t, planInput()) },
	}
	required := map[string]string{"event": "ts", "status": "healthy", "runs": "journal_dir", "plan": "steps"}
	for _, kind := range schemacheck.Kinds {
		t.Run(kind+"/unknown-field", func(t *testing.T) {
			doc := mutate(t, docs[kind](t), func(m map[string]any) { m["added_in_go"] = true })
			if err := schemacheck.Check(kind, doc); err == nil {
				t.Error("an unknown field validates")
			}
		})
		t.Run(kind+"/missing-required", func(t *testing.T) {
			doc := mutate(t, docs[kind](t), func(m map[string]any) { delete(m, required[kind]) })
			if err := schemacheck.Check(kind, doc); err == nil {
				t.Errorf("a document without %s validates", required[kind])
			}
		})
		t.Run(kind+"/wrong-schema", func(t *testing.T) {
			doc := mutate(t, docs[kind](t), func(m map[string]any) { m["schema"] = strings.Replace(m["schema"].(string), "/v1", "/v2", 1) })
			if err := schemacheck.Check(kind, doc); err == nil {
				t.Error("a v2 schema name validates as v1")
			}
		})
		for other := range docs {
			if other != kind {
				if err := schemacheck.Check(other, docs[kind](t)); err == nil {
					t.Errorf("a %s document validates as %s", kind, other)
				}
			}
		}
	}

	bad := map[string]struct {
		kind string
		doc  func(testing.TB) []byte
	}{
		"event/summary-without-summary": {"event", func(t testing.TB) []byte {
			return mutate(t, summaryLine(t), func(m map[string]any) { delete(m, "summary") })
		}},
		"event/summary-on-other-type": {"event", func(t testing.TB) []byte {
			return mutate(t, summaryLine(t), func(m map[string]any) { m["type"] = "note" })
		}},
		"event/finish-without-exit-code": {"event", func(t testing.TB) []byte {
			return mutate(t, firstLine(t), func(m map[string]any) { m["type"], m["op"] = "finish", "finish" })
		}},
		"event/unknown-type": {"event", func(t testing.TB) []byte {
			return mutate(t, firstLine(t), func(m map[string]any) { m["type"] = "chatter" })
		}},
		"event/seq-zero": {"event", func(t testing.TB) []byte {
			return mutate(t, firstLine(t), func(m map[string]any) { m["seq"] = 0 })
		}},
		"event/bad-timestamp": {"event", func(t testing.TB) []byte {
			return mutate(t, firstLine(t), func(m map[string]any) { m["ts"] = "yesterday" })
		}},
		"event/unknown-status": {"event", func(t testing.TB) []byte {
			return mutate(t, firstLine(t), func(m map[string]any) { m["status"] = "exit five" })
		}},
		"event/unknown-retry": {"event", func(t testing.TB) []byte {
			return mutate(t, summaryLine(t), func(m map[string]any) { m["summary"].(map[string]any)["retry"] = "maybe" })
		}},
		"event/unknown-outcome": {"event", func(t testing.TB) []byte {
			return mutate(t, summaryLine(t), func(m map[string]any) { m["summary"].(map[string]any)["outcome"] = "done" })
		}},
		"event/summary-extra-field": {"event", func(t testing.TB) []byte {
			return mutate(t, summaryLine(t), func(m map[string]any) {
				m["summary"].(map[string]any)["nodes"].([]any)[0].(map[string]any)["uptime"] = 3
			})
		}},
		"event/summary-without-sysdumps": {"event", func(t testing.TB) []byte {
			return mutate(t, summaryLine(t), func(m map[string]any) { delete(m["summary"].(map[string]any), "sysdumps") })
		}},
		"status/unhealthy-without-problems": {"status", func(t testing.TB) []byte {
			return mutate(t, statusDoc(t, false), func(m map[string]any) { delete(m, "problems") })
		}},
		"status/healthy-with-problems": {"status", func(t testing.TB) []byte {
			return mutate(t, statusDoc(t, false), func(m map[string]any) { m["healthy"] = true })
		}},
		"status/unknown-role": {"status", func(t testing.TB) []byte {
			return mutate(t, statusDoc(t, true), func(m map[string]any) { m["nodes"].([]any)[0].(map[string]any)["role"] = "candidate" })
		}},
		"runs/null-ops": {"runs", func(t testing.TB) []byte {
			return mutate(t, runsDoc(t), func(m map[string]any) {
				m["runs"].([]any)[0].(map[string]any)["changes"].([]any)[0].(map[string]any)["ops"] = nil
			})
		}},
		"runs/unknown-outcome": {"runs", func(t testing.TB) []byte {
			return mutate(t, runsDoc(t), func(m map[string]any) { m["runs"].([]any)[0].(map[string]any)["outcome"] = "invalid" })
		}},
		"plan/unknown-backup": {"plan", func(t testing.TB) []byte {
			return mutate(t, planDoc(t, planInput()), func(m map[string]any) { m["options"].(map[string]any)["backup"] = "none" })
		}},
		"plan/step-extra-field": {"plan", func(t testing.TB) []byte {
			return mutate(t, planDoc(t, planInput()), func(m map[string]any) { m["steps"].([]any)[0].(map[string]any)["eta"] = 3 })
		}},
		"not-json": {"event", func(testing.TB) []byte { return []byte("{") }},
	}
	for name, c := range bad {
		t.Run(name, func(t *testing.T) {
			if err := schemacheck.Check(c.kind, c.doc(t)); err == nil {
				t.Errorf("validates: %s", c.doc(t))
			} else {
				t.Log(err)
			}
		})
	}
	if err := schemacheck.Check("journal", []byte("{}")); err == nil {
		t.Error("an unknown kind checks")
	}
}

func TestInvalidLines(t *testing.T) {
	lines := func(t testing.TB) [][]byte {
		return bytes.Split(bytes.TrimSpace(eventOutput(t)), []byte("\n"))
	}
	join := func(ls [][]byte) []byte { return append(bytes.Join(ls, []byte("\n")), '\n') }
	renumber := func(t testing.TB, ls [][]byte) [][]byte {
		for i := range ls {
			ls[i] = mutate(t, ls[i], func(m map[string]any) { m["seq"] = i + 1 })
		}
		return ls
	}
	cases := map[string]func(testing.TB) []byte{
		"seq-gap": func(t testing.TB) []byte {
			ls := lines(t)
			return join(slices.Delete(ls, 3, 4))
		},
		"seq-not-from-one": func(t testing.TB) []byte {
			ls := lines(t)
			return join(ls[1:])
		},
		"two-summaries": func(t testing.TB) []byte {
			ls := lines(t)
			return join(renumber(t, append(ls, ls[len(ls)-1])))
		},
		"summary-not-last": func(t testing.TB) []byte {
			ls := lines(t)
			n := len(ls)
			ls[n-1], ls[n-2] = ls[n-2], ls[n-1]
			return join(renumber(t, ls))
		},
		"no-summary": func(t testing.TB) []byte {
			ls := lines(t)
			return join(ls[:len(ls)-1])
		},
		"run-changes": func(t testing.TB) []byte {
			ls := lines(t)
			ls[4] = mutate(t, ls[4], func(m map[string]any) { m["run"] = "another-run" })
			return join(ls)
		},
		"run-dropped": func(t testing.TB) []byte {
			ls := lines(t)
			ls[4] = mutate(t, ls[4], func(m map[string]any) { delete(m, "run") })
			return join(ls)
		},
		"invalid-event": func(t testing.TB) []byte {
			ls := lines(t)
			ls[2] = mutate(t, ls[2], func(m map[string]any) { m["extra"] = 1 })
			return join(ls)
		},
		"empty": func(testing.TB) []byte { return nil },
	}
	for name, out := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := schemacheck.CheckLines(out(t)); err == nil {
				t.Errorf("accepted:\n%s", out(t))
			} else {
				t.Log(err)
			}
		})
	}
	// Blank lines are not events.
	out := bytes.ReplaceAll(eventOutput(t), []byte("\n"), []byte("\n\n"))
	if got := schemacheck.ValidateLines(t, out); len(got) != len(lines(t)) {
		t.Errorf("%d events, want %d", len(got), len(lines(t)))
	}
}

// TestValidateFails: Validate and ValidateLines fail the test they are
// given, with the error and the document.
func TestValidateFails(t *testing.T) {
	for name, f := range map[string]func(testing.TB){
		"Validate":      func(tb testing.TB) { schemacheck.Validate(tb, "status", []byte(`{"schema":"nwroll.status/v1"}`)) },
		"ValidateLines": func(tb testing.TB) { schemacheck.ValidateLines(tb, refusedOutput(t, 2)[1:]) },
	} {
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); f(r) }()
		<-done
		if !r.failed || !strings.Contains(r.msg, "does not validate") && !strings.Contains(r.msg, "not JSON") {
			t.Errorf("%s: failed %v, message %q", name, r.failed, r.msg)
		}
		if !strings.Contains(r.msg, "nwroll.") && name == "Validate" {
			t.Errorf("%s: the message does not show the document: %q", name, r.msg)
		}
	}
}

// recorder is a testing.TB whose Fatalf records and ends its goroutine.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestGoFieldsInSchema: every JSON field of the Go structs is a property
// of the schema (and the reverse), required exactly when the Go tag has
// no omitempty, nullable when Go can print null, a date-time when Go
// prints a time. Go and the schemas cannot drift.
func TestGoFieldsInSchema(t *testing.T) {
	for kind, typ := range map[string]reflect.Type{
		"event":  reflect.TypeFor[rollout.LogEntry](),
		"status": reflect.TypeFor[rollout.StatusReport](),
		"runs":   reflect.TypeFor[rollout.RunsReport](),
		"plan":   reflect.TypeFor[rollout.PlanDoc](),
	} {
		t.Run(kind, func(t *testing.T) {
			b, err := os.ReadFile(schemacheck.Path(kind))
			if err != nil {
				t.Fatal(err)
			}
			root := mustMap(t, b)
			compareStruct(t, root, root, typ, kind)
		})
	}
}

var timeType = reflect.TypeFor[time.Time]()

// resolve follows a local $ref.
func resolve(t *testing.T, root, node map[string]any) map[string]any {
	t.Helper()
	for {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		cur := any(root)
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[part]
		}
		if cur == nil {
			t.Fatalf("$ref %s resolves to nothing", ref)
		}
		node = cur.(map[string]any)
	}
}

func types(node map[string]any) []string {
	switch v := node["type"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, s := range v {
			out = append(out, s.(string))
		}
		return out
	}
	return nil
}

func compareStruct(t *testing.T, root, node map[string]any, typ reflect.Type, path string) {
	t.Helper()
	node = resolve(t, root, node)
	if node["additionalProperties"] != false {
		t.Errorf("%s: the schema object lacks additionalProperties: false", path)
	}
	props, _ := node["properties"].(map[string]any)
	var required []string
	for _, r := range asSlice(node["required"]) {
		required = append(required, r.(string))
	}
	seen := map[string]bool{}
	for f := range typ.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		omitempty := strings.Contains(","+opts+",", ",omitempty,")
		at := path + "." + name
		seen[name] = true
		p, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%s: Go field %s.%s is not in the schema", at, typ.Name(), f.Name)
			continue
		}
		if _, ok := p["description"]; !ok {
			t.Errorf("%s: no description", at)
		}
		if req := slices.Contains(required, name); req == omitempty {
			t.Errorf("%s: required %v in the schema, omitempty %v in Go", at, req, omitempty)
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer && !omitempty && ft.Elem().Kind() != reflect.Struct {
			if !slices.Contains(types(resolve(t, root, p)), "null") {
				t.Errorf("%s: Go prints null for a nil %s; the schema does not allow it", at, ft)
			}
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		rp := resolve(t, root, p)
		switch {
		case ft == timeType:
			if rp["format"] != "date-time" {
				t.Errorf("%s: a time without format date-time", at)
			}
		case ft.Kind() == reflect.Struct:
			compareStruct(t, root, p, ft, at)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			items, ok := rp["items"].(map[string]any)
			if !ok {
				t.Errorf("%s: an array without items", at)
				continue
			}
			compareStruct(t, root, items, ft.Elem(), at+"[]")
		}
	}
	for name := range props {
		if !seen[name] {
			t.Errorf("%s.%s: in the schema, not in Go (%s)", path, name, typ)
		}
	}
	for _, r := range required {
		if !seen[r] {
			t.Errorf("%s: requires %s, which Go does not have", path, r)
		}
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestSchemasDeclareThemselves: each schema is draft 2020-12, names its
// $id and pins its document's schema name.
func TestSchemasDeclareThemselves(t *testing.T) {
	for _, kind := range schemacheck.Kinds {
		b, err := os.ReadFile(schemacheck.Path(kind))
		if err != nil {
			t.Fatal(err)
		}
		m := mustMap(t, b)
		if m["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema %v", kind, m["$schema"])
		}
		if want := "https://nwroll.dev/schema/" + kind + "/v1.json"; m["$id"] != want {
			t.Errorf("%s: $id %v, want %s", kind, m["$id"], want)
		}
		if m["title"] == nil || m["description"] == nil {
			t.Errorf("%s: no title or description", kind)
		}
		c := m["properties"].(map[string]any)["schema"].(map[string]any)["const"]
		if c != schemacheck.SchemaNames[kind] {
			t.Errorf("%s: schema const %v, want %s", kind, c, schemacheck.SchemaNames[kind])
		}
	}
	for kind, name := range map[string]string{"event": rollout.SchemaEvent, "status": rollout.SchemaStatus, "runs": rollout.SchemaRuns, "plan": rollout.SchemaPlan} {
		if schemacheck.SchemaNames[kind] != name {
			t.Errorf("%s: schemacheck says %s, rollout %s", kind, schemacheck.SchemaNames[kind], name)
		}
	}
}

// TestAutomationDocExitCodes: docs/automation.md has one exit-code row
// per code, 0 to 5, each with its retry advice.
func TestAutomationDocExitCodes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(schemacheck.Dir(), "..", "automation.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\|\s*([0-9]+)\s*\|(.*)\|\s*$`)
	var codes []int
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		var c int
		for _, d := range m[1] {
			c = c*10 + int(d-'0')
		}
		codes = append(codes, c)
		if cells := strings.Split(m[2], "|"); len(cells) != 3 {
			t.Errorf("exit code %d: %d columns, want 4 (code | meaning | safe to retry? | what to do)", c, len(cells)+1)
		}
	}
	if !slices.Equal(codes, []int{0, 1, 2, 3, 4, 5}) {
		t.Errorf("exit code rows %v, want 0 1 2 3 4 5 once each", codes)
	}
	for code := range 6 {
		if a := rollout.RetryAdvice(code); !strings.Contains(string(b), "`"+a+"`") {
			t.Errorf("retry advice %q (exit %d) is not in the doc", a, code)
		}
	}
}

// The JSON examples of the docs are real output and stay valid: every
// line of a ```json block in automation.md and fleet.md is an event.
func TestDocExamplesValidate(t *testing.T) {
	block := regexp.MustCompile("(?s)```json\n(.*?)```")
	n := 0
	for _, doc := range []string{"automation.md", "fleet.md"} {
		b, err := os.ReadFile(filepath.Join(schemacheck.Dir(), "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllSubmatch(b, -1) {
			for _, line := range bytes.Split(bytes.TrimSpace(m[1]), []byte("\n")) {
				n++
				if err := schemacheck.Check("event", line); err != nil {
					t.Errorf("%s: an example is not a valid event: %v\n%s", doc, err, line)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no JSON example found in the docs")
	}
}
