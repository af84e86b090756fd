package journal

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// A cloud run's journal, written from the machine's records and read
// back from JSON, tells resume what it froze, made, launched and retired;
// a surge whose outcome was lost is kept with its capacity and the
// instances before it.
func TestCloudFacts(t *testing.T) {
	rec := func(typ runbook.RecordKind, id runbook.EffectID, step, node, op string, ok bool, c *runbook.CloudRecord) Entry {
		e := EntryOf(runbook.Record{EffectMeta: runbook.EffectMeta{Step: runbook.StepID(step)}, Type: typ, For: id, Node: node, Op: op, OK: ok, Cloud: c})
		e.Effect = uint64(id)
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back Entry
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		return back
	}
	in, out := runbook.RecordIntent, runbook.RecordOutcome
	entries := []Entry{
		rec(in, 1, "group-prepare", "", "new-template", false, &runbook.CloudRecord{Template: "lt-1", Version: "3", Image: "ami-new"}),
		rec(out, 1, "group-prepare", "", "new-template", true, &runbook.CloudRecord{Template: "lt-1", Name: "neuwerk", Version: "4"}),
		rec(in, 2, "group-prepare", "", "freeze", false, &runbook.CloudRecord{Processes: []string{"AZRebalance", "ScheduledActions"}}),
		rec(in, 3, "replace/i-0a", "", "surge", false, &runbook.CloudRecord{Desired: 4, Before: []string{"i-0a", "i-0b", "i-0c"}, Replaces: "i-0a"}),
		rec(out, 3, "replace/i-0a", "", "surge", true, &runbook.CloudRecord{Instance: "i-101", Address: "10.0.1.1", Image: "ami-new", Replaces: "i-0a"}),
		rec(in, 4, "replace/i-0a", "i-0a", "retire", false, &runbook.CloudRecord{Instance: "i-0a", NodeID: "11"}),
		rec(out, 4, "replace/i-0a", "i-0a", "retire", true, nil),
		rec(in, 5, "replace/i-0c", "", "surge", false, &runbook.CloudRecord{Desired: 4, Before: []string{"i-101", "i-0b", "i-0c"}, Replaces: "i-0c"}),
	}
	f := ResumeFacts(entries, nil).Cloud
	want := &runbook.CloudFacts{
		Frozen:      []string{"AZRebalance", "ScheduledActions"},
		NewTemplate: cloud.TemplateRef{ID: "lt-1", Name: "neuwerk", Version: "4"},
		Launched:    map[string]string{"i-101": "i-0a"},
		LaunchOrder: []string{"i-101"},
		Surges:      map[string]runbook.CloudRecord{"i-0c": {Desired: 4, Before: []string{"i-101", "i-0b", "i-0c"}, Replaces: "i-0c"}},
		Retires:     map[string]runbook.CloudRecord{"i-0a": {Instance: "i-0a", NodeID: "11"}},
		Removed:     map[string]bool{},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("cloud facts:\n got %+v\nwant %+v", f, want)
	}
	thawed := append(entries, rec(in, 6, "group-thaw", "", "thaw", false, &runbook.CloudRecord{Processes: []string{"AZRebalance", "ScheduledActions"}}),
		rec(out, 6, "group-thaw", "", "thaw", true, nil)) // an outcome records only what its effect made
	if f := ResumeFacts(thawed, nil).Cloud; len(f.Frozen) != 0 {
		t.Fatalf("frozen after the thaw: %v", f.Frozen)
	}
	if f := ResumeFacts(entries[:0], nil).Cloud; f != nil {
		t.Fatalf("a run with no cloud call has no cloud facts: %+v", f)
	}
}
