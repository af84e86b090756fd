package sim

import (
	"fmt"
	"io"
	"time"

	"github.com/nwroll/nwroll/cloud/fakeaws"
	"github.com/nwroll/nwroll/sim/node"
)

// The simulated AWS: an Auto Scaling group with a terminating lifecycle
// hook behind fakeaws (Auto Scaling and EC2 on one URL), and Neuwerk's
// aws-asg integration on every node.

const (
	awsRegion    = "us-east-1"
	awsHook      = "neuwerk-drain"
	awsHookBeat  = 300 * time.Second
	awsInstance  = "t3.medium"
	awsFakeTitle = "fake AWS (Auto Scaling + EC2)"
)

var awsKind = cloudKind{
	name: CloudAWS, group: "an Auto Scaling group", service: awsFakeTitle,
	faults: []string{FaultLaunchError, FaultNoCapacity, FaultHangTermination, FaultLaunchUnderneath, FaultTerminateUnderneath},
	open:   openAWS,
	integration: func(info *Info) node.IntegrationConfig {
		return node.IntegrationConfig{Mode: node.IntegrationAWSASG, AWS: node.AWSConfig{Region: info.CloudRegion, ASGName: info.CloudGroup}}
	},
	inventory: func(in *Info) string {
		return fmt.Sprintf("cloud:\n  provider: aws\n  region: %s\n  group: %s\n  endpoints:\n    autoscaling: %s\n    ec2: %s\n  credentials: anonymous\n",
			in.CloudRegion, in.CloudGroup, in.CloudURL, in.CloudURL)
	},
	scope:      func(in *Info) string { return "region " + in.CloudRegion },
	place:      func(in *Info) { in.CloudRegion = awsRegion },
	instanceID: func(cluster, name string, _ int) string { return stableID("i-", cluster, "node/"+name) },
}

// awsImageID is the AMI of release version in cluster.
func awsImageID(cluster, version string) string { return stableID("ami-", cluster, "release/"+version) }

// awsCloud is fakeaws as a fakeCloud.
type awsCloud struct {
	f    *fakeaws.Fake
	name string // the cluster's group
}

func openAWS(s *supervisor, snapshot []byte) (fakeCloud, error) {
	opts := fakeaws.Options{Backend: cloudBackend{s}, Region: s.info.CloudRegion}
	if snapshot != nil {
		f, err := fakeaws.Restore(snapshot, opts)
		if err != nil {
			return nil, err
		}
		return &awsCloud{f: f, name: s.info.CloudGroup}, nil
	}
	f := fakeaws.New(opts)
	if err := seedAWS(f, s.info); err != nil {
		f.Close()
		return nil, err
	}
	return &awsCloud{f: f, name: s.info.CloudGroup}, nil
}

// seedAWS fills a new fake: one image per release, the template on
// info.Release's image, the group with its terminating hook, and the live
// nodes adopted in service.
func seedAWS(f *fakeaws.Fake, info *Info) error {
	for _, r := range Releases {
		f.AddImage(fakeaws.Image{ID: awsImageID(info.Cluster, r.Version), Name: "neuwerk-" + r.Version,
			Tags: map[string]string{fakeaws.ReleaseTag: r.Version}})
	}
	tmpl := f.AddLaunchTemplate(info.CloudGroup, awsImageID(info.Cluster, info.Release), awsInstance)
	live := info.LiveNodes()
	var adopt []fakeaws.Adopted
	for _, n := range live {
		adopt = append(adopt, fakeaws.Adopted{ID: n.InstanceID, PrivateIP: n.IP, ImageID: awsImageID(info.Cluster, info.Release)})
	}
	_, err := f.AddGroup(fakeaws.GroupSpec{
		Name: info.CloudGroup, Min: len(live), Desired: len(live), Max: len(live) + 1, Template: tmpl,
		Tags: map[string]string{fakeaws.ClusterTag: info.Cluster, fakeaws.RoleTag: "dataplane"},
		Hooks: []fakeaws.Hook{{Name: awsHook, Transition: fakeaws.TransitionTerminating,
			HeartbeatTimeout: awsHookBeat, DefaultResult: "CONTINUE"}},
		Adopt: adopt,
	})
	return err
}

func (a *awsCloud) serve(addr string) (io.Closer, error) {
	srv, err := a.f.Serve(addr)
	if err != nil {
		return nil, err
	}
	return srv, nil
}

func (a *awsCloud) snapshot() ([]byte, error) { return a.f.Snapshot() }
func (a *awsCloud) state() any                { return a.f.State() }
func (a *awsCloud) clearFaults()              { a.f.ClearFaults() }
func (a *awsCloud) close()                    { a.f.Close() }

func (a *awsCloud) group() (CloudGroupStatus, map[string]string, error) {
	g, ok := a.f.Group(a.name)
	if !ok {
		return CloudGroupStatus{}, nil, fmt.Errorf("the %s has no group %s", awsFakeTitle, a.name)
	}
	lc := map[string]string{}
	for _, m := range g.Members {
		lc[m.InstanceID] = m.Lifecycle
	}
	return CloudGroupStatus{Group: g.Name, Desired: g.Desired, Min: g.Min, Max: g.Max,
		Template: g.Template.Name, Version: g.Template.Version}, lc, nil
}

// awsFaults are the fake's kinds for the simulator's fault names.
var awsFaults = map[string]fakeaws.FaultKind{
	FaultLaunchError: fakeaws.FaultAPIError, FaultNoCapacity: fakeaws.FaultInsufficientCapacity,
	FaultHangTermination: fakeaws.FaultHangTermination, FaultLaunchUnderneath: fakeaws.FaultLaunchUnderneath,
	FaultTerminateUnderneath: fakeaws.FaultTerminateUnderneath,
}

func (a *awsCloud) fault(f CloudFault) error {
	return a.f.Inject(fakeaws.Fault{Kind: awsFaults[f.Kind], Group: a.name, InstanceID: f.Instance})
}
