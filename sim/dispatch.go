// Package sim is the host side of nwroll's simulated Neuwerk world
// (docs/sim.md): `sim up` builds a cluster directory, a background
// supervisor runs every node's service manager and SSH server, and Cluster
// drives it. The node process itself lives in sim/node.
package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nwroll/nwroll/sim/node"
)

// Hidden commands of every binary that calls Dispatch.
const (
	cmdNeuwerk    = "__neuwerk"
	cmdSupervisor = "__sim-supervisor"
	cmdCtl        = "__sim-ctl"
)

// Dispatch runs a hidden simulator command named by os.Args[1] and exits;
// for any other command line it returns at once. Call it first thing in
// main, and in the TestMain of every test package that starts clusters:
// `sim up` copies the running executable into DIR/bin/nwroll-sim and runs
// the simulated world through these commands.
//
//	__neuwerk ARGS...                          node.Main(ARGS): the simulated neuwerk daemon/CLI
//	__sim-supervisor --dir DIR                 the cluster's supervisor
//	__sim-ctl --dir DIR --node NAME ARGS...    the systemctl shim
func Dispatch() {
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case cmdNeuwerk:
		os.Exit(node.Main(os.Args[2:]))
	case cmdSupervisor:
		os.Exit(runSupervisor(os.Args[2:]))
	case cmdCtl:
		os.Exit(runCtl(os.Args[2:]))
	}
}

// runCtl is the systemctl shim: it forwards its arguments to the supervisor
// and prints what systemctl would, exiting with systemctl's code.
func runCtl(args []string) int {
	// The shim always writes `--dir DIR --node NAME` first; everything after
	// belongs to systemctl, flags included.
	var dir, nodeName string
	for len(args) >= 2 && (args[0] == "--dir" || args[0] == "--node") {
		if args[0] == "--dir" {
			dir = args[1]
		} else {
			nodeName = args[1]
		}
		args = args[2:]
	}
	if dir == "" || nodeName == "" {
		fmt.Fprintln(os.Stderr, "systemctl (nwroll simulator): usage: __sim-ctl --dir DIR --node NAME ARGS...")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := callSupervisor(ctx, dir, ctlRequest{Op: "systemctl", Node: nodeName, Args: args})
	if err != nil {
		if errors.Is(err, errNoSupervisor) {
			fmt.Fprintf(os.Stderr, "Failed to connect to bus: the simulated cluster in %s is not running (nwroll sim up --dir %s)\n", dir, shellQuote(dir))
			return 1
		}
		fmt.Fprintf(os.Stderr, "systemctl (nwroll simulator): %v\n", err)
		return 1
	}
	fmt.Fprint(os.Stdout, resp.Stdout)
	fmt.Fprint(os.Stderr, resp.Stderr)
	return resp.Exit
}
