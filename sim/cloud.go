package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nwroll/nwroll/cloud/fakecloud"
	"github.com/nwroll/nwroll/sim/node"
)

// Cloud mode (Options.Cloud, docs/sim.md "Cloud mode"): the supervisor
// hosts a fake cloud (a cloudKind's fakeCloud) whose instances are the
// cluster's nodes, launched and terminated through cloudBackend.

// Options.Cloud values: the simulated providers.
const (
	CloudAWS   = "aws"
	CloudAzure = "azure"
	CloudGCP   = "gcp"
)

// Cloud-mode settings `sim up` writes.
const (
	cloudFile       = "cloud.json" // DIR/cloud.json: the fake's snapshot
	cloudHostOctet  = 250          // the fake serves on 127.0.N.250
	cloudPort       = 4566
	persistInterval = 500 * time.Millisecond
	// CloudReconcileSecs is integration.reconcile_interval_secs in cloud
	// mode: Neuwerk's default is 15 s; the simulator's tests and demo use
	// 2 s so a replacement takes seconds, not minutes.
	CloudReconcileSecs = 2
	// CloudDrainMillis is how long a terminating simulated node drains.
	CloudDrainMillis = 3000
)

// Rehearsal faults of a simulated cloud (`sim fault`), by name. Each
// provider simulates those its cloud can have.
const (
	FaultLaunchError         = "launch-error"
	FaultNoCapacity          = "no-capacity"
	FaultHangTermination     = "hang-termination"
	FaultLaunchUnderneath    = "launch-underneath"
	FaultTerminateUnderneath = "terminate-underneath"
)

// CloudFault is a rehearsal fault: Kind, on Instance ("" the next or
// newest one).
type CloudFault struct {
	Kind     string `json:"kind"`
	Instance string `json:"instance,omitempty"`
}

// fakeCloud is the fake cloud a cloud-mode supervisor hosts.
type fakeCloud interface {
	// serve answers the provider's API on addr until the closer closes.
	serve(addr string) (io.Closer, error)
	// snapshot is the whole state, to restore from DIR/cloud.json.
	snapshot() ([]byte, error)
	// state is the whole state for `cloud-state` (the fake's own type).
	state() any
	// group is the cluster's group, provider-neutral, for status.
	group() (CloudGroupStatus, map[string]string, error)
	fault(f CloudFault) error
	clearFaults()
	close()
}

// cloudKind is one simulated provider.
type cloudKind struct {
	name    string
	group   string   // what the group is, for people ("an Auto Scaling group")
	service string   // what the fake serves, for people ("fake AWS (Auto Scaling + EC2)")
	faults  []string // the rehearsal faults it simulates
	// open restores the fake from a snapshot, or seeds a new one (snapshot
	// nil) from the cluster.
	open func(s *supervisor, snapshot []byte) (fakeCloud, error)
	// integration is Neuwerk's integration section on the nodes.
	integration func(info *Info) node.IntegrationConfig
	// inventory is the inventory's cloud section; scope the group's
	// place for people ("region us-east-1"); place sets it in a new
	// cluster's Info.
	inventory func(in *Info) string
	scope     func(in *Info) string
	place     func(in *Info)
	// instanceID is the instance id `sim up` gives node name, the
	// cluster's index'th.
	instanceID func(cluster, name string, index int) string
}

// cloudKinds are the providers the simulator fakes.
var cloudKinds = map[string]cloudKind{CloudAWS: awsKind, CloudAzure: azureKind, CloudGCP: gcpKind}

// CloudKinds are the simulated providers, for --cloud.
func CloudKinds() []string { return slices.Sorted(maps.Keys(cloudKinds)) }

// CloudHelp names each simulated provider and its group, for help texts:
// "aws (an Auto Scaling group), …".
func CloudHelp() string {
	var out []string
	for _, k := range CloudKinds() {
		out = append(out, k+" ("+cloudKinds[k].group+")")
	}
	return strings.Join(out, ", ")
}

func kindOf(info *Info) (cloudKind, error) {
	k, ok := cloudKinds[info.Cloud]
	if !ok {
		return cloudKind{}, fmt.Errorf("cloud %q is not simulated (the simulator fakes %s)", info.Cloud, strings.Join(CloudKinds(), ", "))
	}
	return k, nil
}

// CloudGroupName is the managed group (and template) of cluster.
func CloudGroupName(cluster string) string { return "neuwerk-" + cluster }

// cloudURL is the fake's URL for block.
func cloudURL(block int) string {
	return "http://" + nodeIPOctet(block, cloudHostOctet) + ":" + strconv.Itoa(cloudPort)
}

func nodeIPOctet(block, host int) string { return fmt.Sprintf("127.0.%d.%d", block, host) }

// stableID is an id that stays the same for one cluster and key: prefix
// and 17 hex digits.
func stableID(prefix, cluster, key string) string {
	sum := sha256.Sum256([]byte(cluster + "/" + key))
	return prefix + hex.EncodeToString(sum[:])[:17]
}

// nodeIntegration is the integration section of a cloud-mode node's config.
func nodeIntegration(info *Info) *node.IntegrationConfig {
	k, err := kindOf(info)
	if info.Cloud == "" || err != nil {
		return nil
	}
	cfg := k.integration(info)
	cfg.ClusterName, cfg.ReconcileIntervalSecs, cfg.DrainTimeoutSecs = info.Cluster, CloudReconcileSecs, node.DefaultDrainTimeoutSecs
	cfg.Membership = node.MembershipConfig{MinVoters: node.DefaultMinVoters}
	return &cfg
}

// cloudBackend runs the fake's instances as the cluster's nodes.
type cloudBackend struct{ s *supervisor }

// Launch starts a node for the instance on the image's release, joining
// through the oldest live node (Neuwerk's seed choice without join_seed).
func (b cloudBackend) Launch(ctx context.Context, req fakecloud.LaunchRequest) (string, error) {
	info, err := readInfo(b.s.dir)
	if err != nil {
		return "", err
	}
	for _, n := range info.LiveNodes() {
		if n.InstanceID == req.InstanceID {
			return n.IP, nil
		}
	}
	if _, ok := info.Releases[req.Release]; !ok {
		return "", fmt.Errorf("image %s is not a simulator release (its release tag is %q; the simulator has %s)",
			req.ImageID, req.Release, ReleaseVersions())
	}
	c, err := Open(b.s.dir)
	if err != nil {
		return "", err
	}
	c.out = b.s.log.Writer()
	n, err := c.Launch(ctx, LaunchSpec{Release: req.Release, InstanceID: req.InstanceID})
	if err != nil {
		return "", err
	}
	b.s.log.Printf("cloud: instance %s launched as %s (%s, release %s)", req.InstanceID, n.Name, n.IP, req.Release)
	return n.IP, nil
}

// Terminate terminates the node of the instance, if it still runs.
func (b cloudBackend) Terminate(ctx context.Context, instanceID string) error {
	info, err := readInfo(b.s.dir)
	if err != nil {
		return err
	}
	for _, n := range info.LiveNodes() {
		if n.InstanceID == instanceID {
			c, err := Open(b.s.dir)
			if err != nil {
				return err
			}
			c.out = b.s.log.Writer()
			b.s.log.Printf("cloud: instance %s terminates: node %s", instanceID, n.Name)
			return c.Terminate(ctx, n.Name)
		}
	}
	return nil
}

// Hold only logs: Neuwerk learns of a hold by its own reconcile.
func (b cloudBackend) Hold(_ context.Context, ev fakecloud.HoldEvent) {
	b.s.log.Printf("cloud: %s holds instance %s (%s)", ev.Hook, ev.InstanceID, ev.Transition)
}

// startCloud restores the fake from DIR/cloud.json, or seeds a new one,
// serves it on the block's cloud address and keeps the snapshot current.
func (s *supervisor) startCloud() error {
	if s.info.Cloud == "" {
		return nil
	}
	k, err := kindOf(s.info)
	if err != nil {
		return err
	}
	path := filepath.Join(s.dir, cloudFile)
	snap, err := os.ReadFile(path)
	switch {
	case err == nil:
		if s.fake, err = k.open(s, snap); err != nil {
			return fmt.Errorf("restore the %s from %s: %w", k.service, path, err)
		}
		s.log.Printf("cloud: %s restored from %s", k.service, path)
	case errors.Is(err, fs.ErrNotExist):
		if s.fake, err = k.open(s, nil); err != nil {
			return fmt.Errorf("seed the %s: %w", k.service, err)
		}
	default:
		return err
	}
	u, err := url.Parse(s.info.CloudURL)
	if err != nil {
		return err
	}
	if s.cloudSrv, err = s.fake.serve(u.Host); err != nil {
		s.fake.close()
		s.fake = nil
		return fmt.Errorf("serve the %s on %s: %w", k.service, u.Host, err)
	}
	s.log.Printf("cloud: %s on %s, group %s", k.service, s.info.CloudURL, s.info.CloudGroup)
	s.persistCloud()
	s.cloudDone = make(chan struct{})
	go s.persistLoop()
	return nil
}

// persistLoop writes the fake's snapshot whenever it changed.
func (s *supervisor) persistLoop() {
	t := time.NewTicker(persistInterval)
	defer t.Stop()
	for {
		select {
		case <-s.cloudDone:
			return
		case <-t.C:
			s.persistCloud()
		}
	}
}

func (s *supervisor) persistCloud() {
	snap, err := s.fake.snapshot()
	if err != nil {
		s.log.Printf("cloud: snapshot: %v", err)
		return
	}
	s.cloudMu.Lock()
	defer s.cloudMu.Unlock()
	if bytes.Equal(snap, s.lastSnap) {
		return
	}
	if err := writeFileAtomic(filepath.Join(s.dir, cloudFile), snap, 0o644); err != nil {
		s.log.Printf("cloud: write %s: %v", cloudFile, err)
		return
	}
	s.lastSnap = snap
}

// stopCloud stops serving, writes the last snapshot and closes the fake.
func (s *supervisor) stopCloud() {
	if s.fake == nil {
		return
	}
	close(s.cloudDone)
	if s.cloudSrv != nil {
		s.cloudSrv.Close()
	}
	s.persistCloud()
	s.fake.close()
}

// CloudState decodes the fake cloud's whole state (the fake's own State
// type: groups, templates, images, instances, armed faults) into v.
func (c *Cluster) CloudState(ctx context.Context, v any) error {
	resp, err := callSupervisor(ctx, c.dir, ctlRequest{Op: "cloud-state"})
	if err != nil {
		return c.notRunning(err)
	}
	if err := json.Unmarshal(resp.Cloud, v); err != nil {
		return fmt.Errorf("cloud state: %w", err)
	}
	return nil
}

// cloudGroup is the cluster's group, provider-neutral, and each instance's
// lifecycle state in the provider's words.
func (c *Cluster) cloudGroup(ctx context.Context) (CloudGroupStatus, map[string]string, error) {
	resp, err := callSupervisor(ctx, c.dir, ctlRequest{Op: "cloud-group"})
	if err != nil {
		return CloudGroupStatus{}, nil, c.notRunning(err)
	}
	var g struct {
		Group      CloudGroupStatus  `json:"group"`
		Lifecycles map[string]string `json:"lifecycles"`
	}
	if err := json.Unmarshal(resp.Cloud, &g); err != nil {
		return CloudGroupStatus{}, nil, fmt.Errorf("cloud group: %w", err)
	}
	return g.Group, g.Lifecycles, nil
}

// CloudFault arms a fault in the fake cloud, or for the "underneath"
// kinds makes the group launch or terminate by itself now.
func (c *Cluster) CloudFault(ctx context.Context, f CloudFault) error {
	if _, err := callSupervisor(ctx, c.dir, ctlRequest{Op: "cloud-fault", Fault: &f}); err != nil {
		return c.notRunning(err)
	}
	return nil
}

// ClearCloudFaults disarms every fault and releases hung terminations.
func (c *Cluster) ClearCloudFaults(ctx context.Context) error {
	if _, err := callSupervisor(ctx, c.dir, ctlRequest{Op: "cloud-clear"}); err != nil {
		return c.notRunning(err)
	}
	return nil
}

// cloudControl answers the cloud requests of the control socket.
func (s *supervisor) cloudControl(req ctlRequest) ctlResponse {
	if s.fake == nil {
		return ctlResponse{Error: fmt.Sprintf("cluster %s has no cloud (sim up --cloud %s)", s.info.Cluster, strings.Join(CloudKinds(), "|")), Exit: 1}
	}
	answer := func(v any) ctlResponse {
		b, err := json.Marshal(v)
		if err != nil {
			return ctlResponse{Error: err.Error(), Exit: 1}
		}
		return ctlResponse{Cloud: b}
	}
	switch req.Op {
	case "cloud-state":
		return answer(s.fake.state())
	case "cloud-group":
		g, lc, err := s.fake.group()
		if err != nil {
			return ctlResponse{Error: err.Error(), Exit: 1}
		}
		return answer(map[string]any{"group": g, "lifecycles": lc})
	case "cloud-fault":
		if req.Fault == nil {
			return ctlResponse{Error: "cloud-fault without a fault", Exit: 1}
		}
		k, _ := kindOf(s.info)
		if !slices.Contains(k.faults, req.Fault.Kind) {
			return ctlResponse{Error: fmt.Sprintf("fault %s is not simulated on %s (it has %s)", req.Fault.Kind, k.name, strings.Join(k.faults, ", ")), Exit: 1}
		}
		if err := s.fake.fault(*req.Fault); err != nil {
			return ctlResponse{Error: err.Error(), Exit: 1}
		}
		s.log.Printf("cloud: fault %s armed (%+v)", req.Fault.Kind, *req.Fault)
	case "cloud-clear":
		s.fake.clearFaults()
		s.log.Print("cloud: faults cleared")
	}
	s.persistCloud()
	return ctlResponse{}
}
