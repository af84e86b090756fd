package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nwroll/nwroll/cloud/fakeaws"
	"github.com/nwroll/nwroll/cloud/fakecloud"
	"github.com/nwroll/nwroll/sim/node"
)

// Cloud mode (Options.Cloud, docs/sim.md "Cloud mode"): the supervisor
// hosts a fakeaws.Fake whose instances are the cluster's nodes.

// CloudAWS is Options.Cloud for an AWS Auto Scaling group.
const CloudAWS = "aws"

// Cloud-mode settings `sim up` writes.
const (
	cloudFile       = "cloud.json" // DIR/cloud.json: the fake's snapshot
	cloudHostOctet  = 250          // the fake serves on 127.0.N.250
	cloudPort       = 4566
	cloudRegion     = "us-east-1"
	cloudHook       = "neuwerk-drain"
	cloudHookBeat   = 300 * time.Second
	cloudInstance   = "t3.medium"
	persistInterval = 500 * time.Millisecond
	// CloudReconcileSecs is integration.reconcile_interval_secs in cloud
	// mode: Neuwerk's default is 15 s; the simulator's tests and demo use
	// 2 s so a replacement takes seconds, not minutes.
	CloudReconcileSecs = 2
	// CloudDrainMillis is how long a terminating simulated node drains.
	CloudDrainMillis = 3000
)

// CloudGroupName is the Auto Scaling group (and launch template) of cluster.
func CloudGroupName(cluster string) string { return "neuwerk-" + cluster }

// cloudURL is the fake's URL for block.
func cloudURL(block int) string {
	return "http://" + nodeIPOctet(block, cloudHostOctet) + ":" + strconv.Itoa(cloudPort)
}

func nodeIPOctet(block, host int) string { return fmt.Sprintf("127.0.%d.%d", block, host) }

// stableID is an AWS-style id that stays the same for one cluster and key.
func stableID(prefix, cluster, key string) string {
	sum := sha256.Sum256([]byte(cluster + "/" + key))
	return prefix + hex.EncodeToString(sum[:])[:17]
}

// imageID is the AMI of release version in cluster.
func imageID(cluster, version string) string { return stableID("ami-", cluster, "release/"+version) }

// adoptedInstanceID is the instance id `sim up` gives node name.
func adoptedInstanceID(cluster, name string) string { return stableID("i-", cluster, "node/"+name) }

// nodeIntegration is the integration section of a cloud-mode node's config.
func nodeIntegration(info *Info) *node.IntegrationConfig {
	if info.Cloud == "" {
		return nil
	}
	return &node.IntegrationConfig{
		Mode: node.IntegrationAWSASG, ClusterName: info.Cluster,
		AWS:                   node.AWSConfig{Region: info.CloudRegion, ASGName: info.CloudGroup},
		ReconcileIntervalSecs: CloudReconcileSecs, DrainTimeoutSecs: node.DefaultDrainTimeoutSecs,
		Membership: node.MembershipConfig{MinVoters: node.DefaultMinVoters},
	}
}

// seedCloud fills a new fake: one image per release, the template on
// info.Release's image, the group with its terminating hook, and the live
// nodes adopted in service.
func seedCloud(f *fakeaws.Fake, info *Info) error {
	for _, r := range Releases {
		f.AddImage(fakeaws.Image{ID: imageID(info.Cluster, r.Version), Name: "neuwerk-" + r.Version,
			Tags: map[string]string{fakeaws.ReleaseTag: r.Version}})
	}
	tmpl := f.AddLaunchTemplate(info.CloudGroup, imageID(info.Cluster, info.Release), cloudInstance)
	live := info.LiveNodes()
	var adopt []fakeaws.Adopted
	for _, n := range live {
		adopt = append(adopt, fakeaws.Adopted{ID: n.InstanceID, PrivateIP: n.IP, ImageID: imageID(info.Cluster, info.Release)})
	}
	_, err := f.AddGroup(fakeaws.GroupSpec{
		Name: info.CloudGroup, Min: len(live), Desired: len(live), Max: len(live) + 1, Template: tmpl,
		Tags: map[string]string{fakeaws.ClusterTag: info.Cluster, fakeaws.RoleTag: "dataplane"},
		Hooks: []fakeaws.Hook{{Name: cloudHook, Transition: fakeaws.TransitionTerminating,
			HeartbeatTimeout: cloudHookBeat, DefaultResult: "CONTINUE"}},
		Adopt: adopt,
	})
	return err
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
		return "", fmt.Errorf("image %s is not a simulator release (tag %s=%q; the simulator has %s)",
			req.ImageID, fakeaws.ReleaseTag, req.Release, ReleaseVersions())
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

// Hold only logs: Neuwerk learns of a terminating hold by its own reconcile.
func (b cloudBackend) Hold(_ context.Context, ev fakecloud.HoldEvent) {
	b.s.log.Printf("cloud: hook %s holds instance %s (%s)", ev.Hook, ev.InstanceID, ev.Transition)
}

// startCloud restores the fake from DIR/cloud.json, or seeds a new one,
// serves it on the block's cloud address and keeps the snapshot current.
func (s *supervisor) startCloud() error {
	if s.info.Cloud == "" {
		return nil
	}
	opts := fakeaws.Options{Backend: cloudBackend{s}, Region: s.info.CloudRegion}
	path := filepath.Join(s.dir, cloudFile)
	snap, err := os.ReadFile(path)
	switch {
	case err == nil:
		if s.fake, err = fakeaws.Restore(snap, opts); err != nil {
			return fmt.Errorf("restore the fake AWS from %s: %w", path, err)
		}
		s.log.Printf("cloud: fake AWS restored from %s", path)
	case errors.Is(err, fs.ErrNotExist):
		s.fake = fakeaws.New(opts)
		if err := seedCloud(s.fake, s.info); err != nil {
			s.fake.Close()
			s.fake = nil
			return fmt.Errorf("seed the fake AWS: %w", err)
		}
	default:
		return err
	}
	u, err := url.Parse(s.info.CloudURL)
	if err != nil {
		return err
	}
	if s.cloudSrv, err = s.fake.Serve(u.Host); err != nil {
		return fmt.Errorf("serve the fake AWS on %s: %w", u.Host, err)
	}
	s.log.Printf("cloud: fake AWS (Auto Scaling + EC2) on %s, group %s", s.info.CloudURL, s.info.CloudGroup)
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
	snap, err := s.fake.Snapshot()
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
	s.fake.Close()
}

// CloudState is the fake AWS's whole state (groups, templates, images,
// instances, armed faults) as the supervisor holds it now.
func (c *Cluster) CloudState(ctx context.Context) (fakeaws.State, error) {
	resp, err := callSupervisor(ctx, c.dir, ctlRequest{Op: "cloud-state"})
	if err != nil {
		return fakeaws.State{}, c.notRunning(err)
	}
	var st fakeaws.State
	if err := json.Unmarshal(resp.Cloud, &st); err != nil {
		return fakeaws.State{}, fmt.Errorf("cloud state: %w", err)
	}
	return st, nil
}

// CloudFault arms a fault in the fake AWS (fakeaws.Fault: an API error on
// the next call of an action, a launch without capacity, a termination
// that hangs in Terminating:Wait), or for the "underneath" kinds makes
// the group launch or terminate by itself now. Group "" means the
// cluster's group.
func (c *Cluster) CloudFault(ctx context.Context, ft fakeaws.Fault) error {
	if ft.Group == "" {
		ft.Group = c.info.CloudGroup
	}
	if _, err := callSupervisor(ctx, c.dir, ctlRequest{Op: "cloud-fault", Fault: &ft}); err != nil {
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
		return ctlResponse{Error: fmt.Sprintf("cluster %s has no cloud (sim up --cloud aws)", s.info.Cluster), Exit: 1}
	}
	switch req.Op {
	case "cloud-state":
		b, err := json.Marshal(s.fake.State())
		if err != nil {
			return ctlResponse{Error: err.Error(), Exit: 1}
		}
		return ctlResponse{Cloud: b}
	case "cloud-fault":
		if req.Fault == nil {
			return ctlResponse{Error: "cloud-fault without a fault", Exit: 1}
		}
		if err := s.fake.Inject(*req.Fault); err != nil {
			return ctlResponse{Error: err.Error(), Exit: 1}
		}
		s.log.Printf("cloud: fault %s armed (%+v)", req.Fault.Kind, *req.Fault)
	case "cloud-clear":
		s.fake.ClearFaults()
		s.log.Print("cloud: faults cleared")
	}
	s.persistCloud()
	return ctlResponse{}
}
