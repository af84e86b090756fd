package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// gcpGroup is the gcp-mig integration's provider part: the regional
// managed instance group's instances, their current action and address.
// GCP holds no deletion (facts §9, G6): a deleted instance gets its
// graceful-shutdown window, nothing answers it, and once it stops running
// it counts as missing, so its member is seldom evicted before it goes.
// Real compute REST clients against sim-node.json's endpoint, without
// authentication.
type gcpGroup struct {
	cfg       GCPConfig
	migs      *compute.RegionInstanceGroupManagersClient
	instances *compute.InstancesClient
}

func newGCPGroup(cfg IntegrationConfig, endpoint string) (*gcpGroup, error) {
	ctx := context.Background()
	opts := []option.ClientOption{option.WithEndpoint(endpoint), option.WithoutAuthentication()}
	migs, err := compute.NewRegionInstanceGroupManagersRESTClient(ctx, opts...)
	if err != nil {
		return nil, err
	}
	instances, err := compute.NewInstancesRESTClient(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return &gcpGroup{cfg: cfg.GCP, migs: migs, instances: instances}, nil
}

func (g *gcpGroup) mode() string { return IntegrationGCPMIG }

// gcpRemoving are the current actions of an instance the group removes.
var gcpRemoving = []string{"DELETING", "ABANDONING", "RECREATING"}

// discover lists the group's RUNNING instances by their first NIC's
// address.
func (g *gcpGroup) discover(ctx context.Context) (map[string]groupInstance, error) {
	out := map[string]groupInstance{}
	it := g.migs.ListManagedInstances(ctx, &computepb.ListManagedInstancesRegionInstanceGroupManagersRequest{
		Project: g.cfg.Project, Region: g.cfg.Region, InstanceGroupManager: g.cfg.IGName})
	for {
		mi, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list the instances of %s: %w", g.cfg.IGName, err)
		}
		if mi.GetInstanceStatus() != "RUNNING" {
			continue
		}
		zone, name, ok := zonalName(mi.GetInstance())
		if !ok {
			continue
		}
		in, err := g.instances.Get(ctx, &computepb.GetInstanceRequest{Project: g.cfg.Project, Zone: zone, Instance: name})
		if err != nil {
			return nil, fmt.Errorf("get instance %s: %w", name, err)
		}
		var ip string
		if nics := in.GetNetworkInterfaces(); len(nics) > 0 {
			ip = nics[0].GetNetworkIP()
		}
		if ip == "" {
			continue
		}
		action := mi.GetCurrentAction()
		out[ip] = groupInstance{id: name, ip: ip, state: action,
			terminating: slices.Contains(gcpRemoving, action)}
	}
}

// zonalName splits an instance URL (…/zones/ZONE/instances/NAME).
func zonalName(url string) (zone, name string, ok bool) {
	parts := strings.Split(url, "/")
	for i := 0; i+3 < len(parts); i++ {
		if parts[i] == "zones" && parts[i+2] == "instances" {
			return parts[i+1], parts[i+3], true
		}
	}
	return "", "", false
}

func (g *gcpGroup) hold(context.Context) (time.Duration, error) { return 0, nil }
func (g *gcpGroup) heartbeat(context.Context, string) error     { return nil }

// complete: GCP needs no acknowledgement.
func (g *gcpGroup) complete(context.Context, string) (bool, error) { return true, nil }
