package sim_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
)

// A cluster with an owner goes down when the owner ends, however it ends
// (here a kill -9): `nwroll demo` closed with its terminal leaves nothing
// running.
func TestOwnerGoneBringsTheClusterDown(t *testing.T) {
	owner := exec.Command("sleep", "600")
	if err := owner.Start(); err != nil {
		t.Skip(err)
	}
	defer owner.Process.Kill()
	c := simtest.Start(t, sim.Options{Nodes: 1, Owner: owner.Process.Pid})
	procs := c.Processes()
	if len(procs) == 0 {
		t.Fatal("no processes recorded")
	}
	if !c.Running(context.Background()) {
		t.Fatal("the cluster is not running while its owner lives")
	}
	_ = owner.Process.Kill()
	_ = owner.Wait()
	for deadline := time.Now().Add(60 * time.Second); c.Running(context.Background()); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the cluster outlived its owner")
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var left []string
		for _, p := range procs {
			if !processGone(p.Pid) {
				left = append(left, p.Kind+" "+p.Name)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still running after the owner ended: %s", strings.Join(left, ", "))
		}
	}
	log, _ := os.ReadFile(filepath.Join(c.Dir(), "supervisor.log"))
	if !strings.Contains(string(log), "has ended: bringing the cluster down") {
		t.Errorf("the supervisor log does not say why it went down:\n%s", log)
	}
}
