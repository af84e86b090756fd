package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nwroll/nwroll/sim"
)

// The simulated cloud's commands: a token for nwroll (a cloud inventory
// reaches the nodes over HTTPS only), and the faults to rehearse.

func newSimTokenCmd(dir *string) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token --dir DIR [--ttl 1h]",
		Short: "Print an admin API token for the simulated cluster (for NEUWERK_TOKEN)",
		Long: `Mint an admin API token on the cluster's first live node and print it, for
nwroll's NEUWERK_TOKEN. A cloud inventory (sim up --cloud aws) lists no nodes
to log in to, so nwroll needs a token given:

  export NEUWERK_TOKEN=$(nwroll sim token --dir DIR)`,
		Example: "  export NEUWERK_TOKEN=$(nwroll sim token --dir /tmp/nwc)",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := openCluster(c, *dir)
			if err != nil {
				return err
			}
			if ttl <= 0 {
				return usageError("--ttl %v: give a positive duration, e.g. 1h", ttl)
			}
			info := cl.Info()
			live := info.LiveNodes()
			if len(live) == 0 {
				return fmt.Errorf("cluster %s has no live node to mint a token on", info.Cluster)
			}
			ctx, cancel := signalContext()
			defer cancel()
			tok, err := cl.MintToken(ctx, live[0].Name, true, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), string(tok))
			return nil
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the token is valid (`DURATION`)")
	return cmd
}

// cloudFaults are the rehearsable faults of a simulated cloud, by the
// name the command takes; each provider simulates those its cloud has.
var cloudFaults = []struct{ name, help string }{
	{sim.FaultLaunchError, "the next capacity change fails with an API error (AWS ScalingActivityInProgress)"},
	{sim.FaultNoCapacity, "the next launch fails for want of capacity (AWS InsufficientInstanceCapacity)"},
	{sim.FaultHangTermination, "the next instance held for termination stays held (AWS Terminating:Wait)"},
	{sim.FaultLaunchUnderneath, "the group launches an instance by itself now (desired +1)"},
	{sim.FaultTerminateUnderneath, "the group terminates its newest in-service instance by itself now"},
	{"clear", "disarm every fault and release a hung termination"},
}

func newSimFaultCmd(dir *string) *cobra.Command {
	var lines []string
	var names []string
	for _, f := range cloudFaults {
		lines = append(lines, fmt.Sprintf("  %-21s %s", f.name, f.help))
		names = append(names, f.name)
	}
	var instance string
	cmd := &cobra.Command{
		Use:   "fault --dir DIR FAULT [--instance ID]",
		Short: "Rehearse a cloud failure on a simulated group (sim up --cloud PROVIDER)",
		Long: "Arm a failure of the simulated cloud behind a cloud cluster, or make its group\nchange by itself now:\n\n" +
			strings.Join(lines, "\n") + "\n\nA release whose node never joins is a release: --release 1.1.1-never-joins.",
		Example: "  nwroll sim fault --dir /tmp/nwc hang-termination\n  nwroll sim fault --dir /tmp/nwc clear",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("'%s' needs one FAULT: %s", c.CommandPath(), strings.Join(names, ", "))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := openCluster(c, *dir)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			for _, f := range cloudFaults {
				if f.name != args[0] {
					continue
				}
				if f.name == "clear" {
					return cl.ClearCloudFaults(ctx)
				}
				if err := cl.CloudFault(ctx, sim.CloudFault{Kind: f.name, Instance: instance}); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "sim: %s: %s\n", f.name, f.help)
				return nil
			}
			return usageError("unknown fault %q: use %s", args[0], strings.Join(names, ", "))
		},
	}
	cmd.Flags().StringVar(&instance, "instance", "", "the instance `ID` (hang-termination, terminate-underneath; default: the next or newest)")
	return cmd
}
