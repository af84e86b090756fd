package rollout

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
)

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
	LockRun string   `json:"lock_run_id,omitempty"`
	LockPID int      `json:"lock_pid,omitempty"`
	// LockGone: the lock's holder ran on this host and is no longer running.
	LockGone bool `json:"lock_holder_gone,omitempty"`
	// LockRunOutcome is how the lock's run stands in this host's journal
	// (paused, interrupted, failed…), when the journal has it.
	LockRunOutcome string `json:"lock_run_outcome,omitempty"`
	Staged         string `json:"staged,omitempty"`
	Prev           string `json:"prev,omitempty"`
}

// StatusReport is `nwroll status`. The live Raft membership is compared
// with the inventory (health.CompareMembership): a member the inventory
// lacks and an inventory node that is not a member are each listed below
// and as a note.
type StatusReport struct {
	Schema  string          `json:"schema"` // SchemaStatus
	Cluster string          `json:"cluster"`
	TakenAt time.Time       `json:"taken_at"`
	Leader  string          `json:"leader"`
	Term    uint64          `json:"term"`
	Nodes   []NodeStatusRow `json:"nodes"`
	Notes   []string        `json:"notes,omitempty"`
	// Healthy: a leader, every node ready with its service active, and the
	// Raft membership matching the inventory; Problems says what is not.
	Healthy  bool     `json:"healthy"`
	Problems []string `json:"problems,omitempty"`

	MembersNotInInventory []MemberNotInInventory `json:"members_not_in_inventory,omitempty"`
	NodesNotMembers       []NodeNotMember        `json:"inventory_nodes_not_members,omitempty"`
}

// MemberNotInInventory is a Raft member the inventory does not list.
type MemberNotInInventory struct {
	NodeID string `json:"node_id"`
	Addr   string `json:"addr"` // its Raft address, as the members API gives it
	Voter  bool   `json:"is_voter"`
}

// NodeNotMember is an inventory node the Raft membership does not list.
type NodeNotMember struct {
	Name   string `json:"name"`
	NodeID string `json:"node_id"`
	Addr   string `json:"addr"` // its API address (host:port)
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
	rep := StatusReport{Schema: SchemaStatus, Cluster: env.Inventory.Cluster, TakenAt: s.Snap.TakenAt.UTC()}
	leader, hasLeader := s.Snap.Leader()
	if hasLeader {
		rep.Leader = s.Snap.MemberName(leader.NodeID) // a leader the inventory lacks by its Raft address
		if s.Snap.Stats != nil {
			rep.Term = s.Snap.Stats.Cluster.CurrentTerm
		}
	} else {
		rep.Notes = append(rep.Notes, "no leader: "+s.Snap.NoLeaderReason())
	}
	if s.LockErr != nil {
		rep.Notes = append(rep.Notes, "locks: "+s.LockErr.Error())
	}
	rep.membership(s, x)
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
			row.Lock, row.LockRun, row.LockPID = h.String(), h.RunID, h.PID
			row.LockGone = executor.HolderGone(h)
		}
		rep.Nodes = append(rep.Nodes, row)
	}
	rep.lockRuns(env)
	rep.Problems = rep.Assess()
	rep.Healthy = len(rep.Problems) == 0
	return rep, nil
}

// Assess lists what keeps the cluster from being healthy, in words: no
// leader, a node not ready (or not answering) or its service inactive, and
// a Raft membership that differs from the inventory. Empty: healthy. A
// held lock is reported in the table, not here: it is a run, not a fault.
func (rep StatusReport) Assess() []string {
	var p []string
	if rep.Leader == "" {
		p = append(p, "no leader")
	}
	for _, n := range rep.Nodes {
		switch {
		case !n.Ready && len(n.Failing) > 0:
			p = append(p, n.Name+" not ready: "+strings.Join(n.Failing, ", "))
		case !n.Ready:
			p = append(p, n.Name+" not ready")
		}
		if !n.Active {
			p = append(p, n.Name+" service inactive")
		}
	}
	for _, m := range rep.MembersNotInInventory {
		p = append(p, "Raft member "+m.NodeID+" ("+m.Addr+") is not in the inventory")
	}
	for _, m := range rep.NodesNotMembers {
		p = append(p, m.Name+" is in the inventory but not a Raft member")
	}
	return p
}

// lockText is the LOCK column: the holder, or a dead holder said plainly.
func (n NodeStatusRow) lockText() string {
	switch {
	case n.Lock == "":
		return "-"
	case n.LockGone:
		return fmt.Sprintf("held by run %s, pid %d on this host, no longer running", n.LockRun, n.LockPID)
	}
	return n.Lock
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
		rel := n.Release
		if n.Staged != "" {
			rel += ", " + n.Staged + " staged"
		}
		rows = append(rows, []string{n.Name, n.Role, rel, ready, lag, n.lockText()})
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
	for _, n := range rep.Nodes {
		switch {
		case n.LockGone && n.LockRunOutcome != "":
			fmt.Fprintf(w, "note: %s: the lock is run %s's, %s in this host's journal: `nwroll resume` continues it and takes the lock back (`nwroll rollback` undoes it)\n", n.Name, n.LockRun, n.LockRunOutcome)
		case n.LockGone:
			fmt.Fprintf(w, "note: %s: the lock's run %s is gone; take it over with --break-lock (upgrade, resume, rollback) or in the console\n", n.Name, n.LockRun)
		}
	}
	if rep.Healthy {
		fmt.Fprintln(w, "healthy")
	} else {
		fmt.Fprintln(w, "NOT HEALTHY: "+strings.Join(rep.Problems, "; "))
	}
}

// lockRuns reads how each lock's run stands in this host's journal.
func (rep *StatusReport) lockRuns(env Env) {
	h, err := journal.History(env.StateDir, env.Inventory.Cluster)
	if err != nil {
		return
	}
	for i, n := range rep.Nodes {
		if n.LockRun == "" {
			continue
		}
		if r, err := journal.Find(h, n.LockRun); err == nil {
			rep.Nodes[i].LockRunOutcome = string(r.Outcome)
		}
	}
}

// membership compares the live Raft membership with the inventory.
func (rep *StatusReport) membership(s executor.Survey, x *executor.Executor) {
	if s.Snap.Members == nil {
		why := "no answer"
		if s.Snap.MembersErr != nil {
			why = s.Snap.MembersErr.Error()
		}
		rep.Notes = append(rep.Notes, "Raft membership unknown, so it is not compared with the inventory: /api/v1/cluster/members failed: "+why)
		return
	}
	var ids []string
	for _, name := range x.NodeNames() {
		ids = append(ids, x.NodeID(name))
	}
	for _, m := range health.CompareMembership(s.Snap.Members.Members, s.Snap.InventoryNodes(ids)) {
		rep.Notes = append(rep.Notes, m.String())
		if m.Kind == health.MemberNotInInventory {
			rep.MembersNotInInventory = append(rep.MembersNotInInventory, MemberNotInInventory{NodeID: m.NodeID, Addr: m.Addr, Voter: m.Voter})
		} else {
			rep.NodesNotMembers = append(rep.NodesNotMembers, NodeNotMember{Name: m.Name, NodeID: m.NodeID, Addr: m.Addr})
		}
	}
}
