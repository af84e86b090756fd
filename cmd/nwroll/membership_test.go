package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/internal/schemacheck"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
)

// A Raft member the inventory leaves out, end to end on a simulated
// 3-node cluster: `plan` refuses (exit 3) naming it by its Raft address,
// `status` notes it (and lists it in --json), and `upgrade` refuses in the
// pre-check with the same words. With the whole inventory, `plan` counts
// the three voters.
func TestMemberMissingFromTheInventory(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	c := simtest.Start(t, sim.Options{Nodes: 3})
	info := c.Info()
	t.Setenv("HOME", t.TempDir()) // no ~/.ssh/config, and the journal of the refused upgrade lands here
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("NEUWERK_TOKEN", "")

	full, err := os.ReadFile(info.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	left := info.Nodes[2] // fw-c
	block := "  - name: " + left.Name + "\n"
	start := strings.Index(string(full), block)
	if start < 0 || left.RaftAddr == "" {
		t.Fatalf("no %q in %s, or no Raft address in sim.json:\n%s", block, info.Inventory, full)
	}
	end := len(full)
	if next := strings.Index(string(full[start+len(block):]), "  - name: "); next >= 0 {
		end = start + len(block) + next
	}
	partial := filepath.Join(t.TempDir(), "inventory.yaml")
	if err := os.WriteFile(partial, append(append([]byte(nil), full[:start]...), full[end:]...), 0o644); err != nil {
		t.Fatal(err)
	}

	releases := filepath.Join(c.Dir(), "releases")
	target := filepath.Join(releases, "1.1.0")
	want := "Raft member " + left.RaftAddr + " (node id " + left.NodeID + ", a voter) is not in the inventory; " +
		"add it to the inventory or remove it from the cluster first"

	t.Run("plan with the whole inventory counts three voters", func(t *testing.T) {
		code, out, stderr := captureRun(t, "plan", "-i", info.Inventory, "--release", target, "--releases", releases)
		if code != 0 || !strings.Contains(out, "Quorum: 3 voters, quorum 2, failure tolerance 1;") {
			t.Fatalf("plan: exit %d\n%s\n%s", code, out, stderr)
		}
	})

	t.Run("plan refuses", func(t *testing.T) {
		code, out, stderr := captureRun(t, "plan", "-i", partial, "--release", target, "--releases", releases)
		if code != exitRefused || !strings.Contains(stderr, want) {
			t.Fatalf("plan: exit %d, want %d naming %q\nstdout:\n%s\nstderr:\n%s", code, exitRefused, want, out, stderr)
		}
		t.Logf("plan: %s", stderr)
		if strings.Contains(out, "Quorum:") || strings.Contains(stderr, "goroutine") {
			t.Errorf("a refused plan printed a runbook or a stack:\n%s\n%s", out, stderr)
		}
	})

	t.Run("status notes it", func(t *testing.T) {
		code, out, stderr := captureRun(t, "status", "-i", partial, "--releases", releases)
		if code != exitRefused || !strings.Contains(out, "note: "+want+"\n") || strings.Count(out, "\nfw-") != 2 || !strings.Contains(out, "\nNOT HEALTHY: Raft member ") {
			t.Fatalf("status: exit %d, want a note %q\n%s\n%s", code, want, out, stderr)
		}
		t.Logf("status:\n%s", out)
		if head, _, _ := strings.Cut(out, "\n"); strings.Contains(head, left.NodeID) {
			t.Errorf("status names a node by its bare id: %q", head)
		}
		code, out, stderr = captureRun(t, "status", "-i", partial, "--releases", releases, "--json")
		schemacheck.Validate(t, "status", []byte(out))
		var rep struct {
			Notes   []string `json:"notes"`
			Missing []struct {
				NodeID string `json:"node_id"`
				Addr   string `json:"addr"`
				Voter  bool   `json:"is_voter"`
			} `json:"members_not_in_inventory"`
			NotMembers []any `json:"inventory_nodes_not_members"`
		}
		if err := json.Unmarshal([]byte(out), &rep); code != exitRefused || err != nil || !strings.Contains(stderr, "the cluster is not healthy: Raft member ") {
			t.Fatalf("status --json: exit %d, %v\n%s\n%s", code, err, out, stderr)
		}
		if len(rep.Missing) != 1 || rep.Missing[0].NodeID != left.NodeID || rep.Missing[0].Addr != left.RaftAddr || !rep.Missing[0].Voter || len(rep.NotMembers) != 0 {
			t.Errorf("status --json: members_not_in_inventory %+v, inventory_nodes_not_members %v", rep.Missing, rep.NotMembers)
		}
		if !strings.Contains(strings.Join(rep.Notes, "\n"), want) {
			t.Errorf("status --json notes %q lack %q", rep.Notes, want)
		}
	})

	t.Run("upgrade refuses in the pre-check", func(t *testing.T) {
		code, out, stderr := captureRun(t, "upgrade", "-i", partial, "--release", target, "--releases", releases, "--yes")
		if code != exitRefused || !strings.Contains(stderr, want) {
			t.Fatalf("upgrade: exit %d, want %d naming %q\nstdout:\n%s\nstderr:\n%s", code, exitRefused, want, out, stderr)
		}
		t.Logf("upgrade: %s", stderr)
		if got := fileSHA256(t, left.Binary); got != info.Releases["1.0.0"].SHA256 {
			t.Errorf("a refused upgrade changed %s's binary", left.Name)
		}
	})
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
