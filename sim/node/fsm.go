package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Keys of the replicated state.
const (
	policyKey = "policy/state"
	ticksKey  = "sim/ticks"
)

// command is one Raft log entry: set a key, or a leader tick that only
// advances the log so followers' lag is visible.
type command struct {
	Op    string          `json:"op"` // set | tick
	Key   string          `json:"key,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	At    int64           `json:"at,omitempty"` // unix millis, ticks
}

// storedPolicy is the value at policy/state (Neuwerk's StoredPolicy, reduced).
type storedPolicy struct {
	Generation    uint64        `json:"generation"`
	DefaultPolicy string        `json:"default_policy"`
	SourceGroups  []sourceGroup `json:"source_groups"`
}

type sourceGroup struct {
	Name         string   `json:"name"`
	CIDRs        []string `json:"cidrs"`
	AllowDomains []string `json:"allow_domains"`
}

func defaultPolicy() storedPolicy {
	return storedPolicy{
		Generation:    1,
		DefaultPolicy: "deny",
		SourceGroups: []sourceGroup{{
			Name:         "workloads",
			CIDRs:        []string{"10.0.0.0/8"},
			AllowDomains: []string{"*.ubuntu.com", "api.github.com", "registry.npmjs.org"},
		}},
	}
}

func parsePolicy(raw []byte) (storedPolicy, error) {
	var p storedPolicy
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, err
	}
	if p.DefaultPolicy != "allow" && p.DefaultPolicy != "deny" {
		return p, fmt.Errorf("default_policy %q is neither allow nor deny", p.DefaultPolicy)
	}
	return p, nil
}

// kvFSM is the replicated key/value state machine.
//
// The stall fault models a node whose apply loop stopped: once stalled, it
// acknowledges entries to Raft without applying them, so replication keeps
// going (the leader's matched index keeps rising) while this node's applied
// state and raft_last_applied freeze. It does not block Apply, because a
// blocked FSM would after a while also stop hashicorp's follower loop from
// accepting entries, which is a different failure.
type kvFSM struct {
	mu      sync.RWMutex
	data    map[string]json.RawMessage
	ticks   uint64
	stalled atomic.Bool
	skipped atomic.Uint64
}

func newKVFSM() *kvFSM { return &kvFSM{data: map[string]json.RawMessage{}} }

func (f *kvFSM) Apply(l *raft.Log) interface{} {
	if f.stalled.Load() {
		f.skipped.Add(1)
		return nil
	}
	var c command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return fmt.Errorf("decode command at index %d: %w", l.Index, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch c.Op {
	case "set":
		f.data[c.Key] = append(json.RawMessage(nil), c.Value...)
	case "tick":
		f.ticks++
	default:
		return fmt.Errorf("unknown command %q at index %d", c.Op, l.Index)
	}
	return nil
}

func (f *kvFSM) get(key string) (json.RawMessage, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	v, ok := f.data[key]
	return v, ok
}

func (f *kvFSM) stall() { f.stalled.Store(true) }

// fsmState is the snapshot format (also read by the offline sysdump).
type fsmState struct {
	Data  map[string]json.RawMessage `json:"data"`
	Ticks uint64                     `json:"ticks"`
}

func (f *kvFSM) Snapshot() (raft.FSMSnapshot, error) {
	if f.stalled.Load() {
		return nil, errors.New("state machine apply loop is not making progress")
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := fsmState{Data: make(map[string]json.RawMessage, len(f.data)), Ticks: f.ticks}
	for k, v := range f.data {
		s.Data[k] = v
	}
	return s, nil
}

func (f *kvFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s fsmState
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if s.Data == nil {
		s.Data = map[string]json.RawMessage{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data, f.ticks = s.Data, s.Ticks
	return nil
}

func (s fsmState) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmState) Release() {}
