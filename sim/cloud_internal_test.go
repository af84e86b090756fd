package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/cloud/fakeaws"
	"github.com/nwroll/nwroll/cloud/fakecloud"
	"github.com/nwroll/nwroll/cloud/fakegcp"
)

// TestCloudBackendLaunch: a running instance's launch answers its address
// without starting anything; an image of no simulator release fails with
// a message naming the image and the tag.
func TestCloudBackendLaunch(t *testing.T) {
	dir := t.TempDir()
	info := &Info{Cluster: "sim-9", Dir: dir, Releases: map[string]ReleaseInfo{"1.0.0": {}},
		Nodes: []NodeInfo{{Name: "fw-a", IP: "127.0.9.11", InstanceID: "i-0a"}, {Name: "fw-b", IP: "127.0.9.12", InstanceID: "i-0b", State: NodeTerminated}}}
	if err := writeInfo(info); err != nil {
		t.Fatal(err)
	}
	b := cloudBackend{&supervisor{dir: dir, info: info, log: log.New(io.Discard, "", 0)}}
	ip, err := b.Launch(context.Background(), fakecloud.LaunchRequest{InstanceID: "i-0a", Release: "1.0.0"})
	if err != nil || ip != "127.0.9.11" {
		t.Errorf("relaunch of a running instance: %q %v", ip, err)
	}
	_, err = b.Launch(context.Background(), fakecloud.LaunchRequest{InstanceID: "i-0c", ImageID: "ami-0123", Release: ""})
	if err == nil || !strings.Contains(err.Error(), `image ami-0123 is not a simulator release (its release tag is ""`) {
		t.Errorf("launch of an untagged image: %v", err)
	}
	// A terminated instance is not running: its terminate is a no-op.
	if err := b.Terminate(context.Background(), "i-0b"); err != nil {
		t.Errorf("terminate of a terminated node: %v", err)
	}
}

// TestCloudIDsAndInventory: ids are stable per cluster and differ across
// clusters; the inventory has the cloud section and no nodes.
func TestCloudIDsAndInventory(t *testing.T) {
	adopted := awsKind.instanceID
	if awsImageID("sim-3", "1.0.0") != "ami-"+stableHex("sim-3/release/1.0.0") || awsImageID("sim-3", "1.0.0") == awsImageID("sim-4", "1.0.0") ||
		len(adopted("sim-3", "fw-a", 0)) != len("i-")+17 {
		t.Errorf("ids: %s %s %s", awsImageID("sim-3", "1.0.0"), awsImageID("sim-4", "1.0.0"), adopted("sim-3", "fw-a", 0))
	}
	in := &Info{Cluster: "sim-3", Dir: "/d", ClientKey: "/d/k", KnownHosts: "/d/kh", CAPath: "/d/ca.crt",
		Cloud: CloudAWS, CloudURL: cloudURL(3), CloudRegion: awsRegion, CloudGroup: CloudGroupName("sim-3"),
		Nodes: []NodeInfo{{Name: "fw-a", IP: "127.0.3.11", SSHUser: "u"}}}
	got := inventoryYAML(in)
	want := "cloud:\n  provider: aws\n  region: us-east-1\n  group: neuwerk-sim-3\n  endpoints:\n    autoscaling: http://127.0.3.250:4566\n    ec2: http://127.0.3.250:4566\n  credentials: anonymous\n"
	if !strings.HasSuffix(got, want) || strings.Contains(got, "nodes:") || strings.Contains(got, "127.0.3.11") {
		t.Errorf("inventory:\n%s", got)
	}
}

func stableHex(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])[:17]
}

// TestCloudPersistRestore: the supervisor seeds a fake, writes its snapshot
// to cloud.json on changes and at stop, and a new supervisor on the same
// DIR restores it instead of seeding again.
func TestCloudPersistRestore(t *testing.T) {
	dir := t.TempDir()
	info := &Info{Cluster: "sim-9", Dir: dir, Release: "1.0.0", Releases: map[string]ReleaseInfo{"1.0.0": {}},
		Cloud: CloudAWS, CloudURL: "http://127.0.0.1:0", CloudRegion: awsRegion, CloudGroup: CloudGroupName("sim-9"),
		Nodes: []NodeInfo{{Name: "fw-a", IP: "127.0.9.11", InstanceID: awsKind.instanceID("sim-9", "fw-a", 0)}}}
	if err := writeInfo(info); err != nil {
		t.Fatal(err)
	}
	newSup := func() *supervisor {
		s := &supervisor{dir: dir, info: info, log: log.New(io.Discard, "", 0)}
		if err := s.startCloud(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := newSup()
	time.Sleep(100 * time.Millisecond) // a few of the fake's ticks
	if snap, _ := s.fake.snapshot(); !bytes.Equal(snap, s.lastSnap) {
		t.Error("an idle fake's snapshot changes: cloud.json would be rewritten every time")
	}
	if err := s.fake.fault(CloudFault{Kind: FaultNoCapacity}); err != nil {
		t.Fatal(err)
	}
	s.persistCloud()
	s.stopCloud()
	s = newSup()
	defer s.stopCloud()
	st := s.fake.state().(fakeaws.State)
	g := st.Groups[info.CloudGroup]
	if g == nil || len(g.Members) != 1 || g.Members[0].InstanceID != info.Nodes[0].InstanceID || len(st.Faults) != 1 ||
		len(st.Images) != len(Releases) || len(st.Templates) != 1 {
		t.Fatalf("restored state: group %+v, %d faults, %d images, %d templates", g, len(st.Faults), len(st.Images), len(st.Templates))
	}
}

// TestCloudFaultRefusedWhereNotSimulated: a fault a cloud does not have is
// refused by name, naming the faults it has, and nothing is armed.
func TestCloudFaultRefusedWhereNotSimulated(t *testing.T) {
	dir := t.TempDir()
	info := &Info{Cluster: "sim-9", Dir: dir, Block: 9, Release: "1.0.0", Releases: map[string]ReleaseInfo{"1.0.0": {}},
		Cloud: CloudGCP, CloudURL: "http://127.0.0.1:0", CloudGroup: CloudGroupName("sim-9"),
		Nodes: []NodeInfo{{Name: "fw-a", IP: "127.0.9.11", InstanceID: gcpKind.instanceID("sim-9", "fw-a", 0)}}}
	gcpKind.place(info)
	if err := writeInfo(info); err != nil {
		t.Fatal(err)
	}
	s := &supervisor{dir: dir, info: info, log: log.New(io.Discard, "", 0)}
	if err := s.startCloud(); err != nil {
		t.Fatal(err)
	}
	defer s.stopCloud()
	resp := s.cloudControl(ctlRequest{Op: "cloud-fault", Fault: &CloudFault{Kind: FaultLaunchUnderneath}})
	if resp.Exit == 0 || !strings.Contains(resp.Error, "fault launch-underneath is not simulated on gcp (it has launch-error, no-capacity, hang-termination)") {
		t.Fatalf("an unsimulated fault: %+v", resp)
	}
	if st := s.fake.state().(fakegcp.State); len(st.Faults) != 0 {
		t.Fatalf("armed %+v", st.Faults)
	}
	if resp := s.cloudControl(ctlRequest{Op: "cloud-fault", Fault: &CloudFault{Kind: FaultHangTermination}}); resp.Exit != 0 {
		t.Fatalf("a simulated fault: %+v", resp)
	}
	if st := s.fake.state().(fakegcp.State); len(st.Faults) != 1 {
		t.Fatalf("armed %+v", st.Faults)
	}
}
